"""The console's widgets, one piece of data each."""

from console.widgets.log_panel import LogPanel
from console.widgets.panels import RedisPanel, WorkersPanel
from console.widgets.queue_table import QueueTable

__all__ = ["LogPanel", "QueueTable", "RedisPanel", "WorkersPanel"]
