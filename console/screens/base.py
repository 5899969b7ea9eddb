"""The base of the console's full screens: typed access to the hosting app."""

from __future__ import annotations

from textual.screen import Screen

from console.host import ConsoleHost


class ConsoleScreen(Screen[None]):
    """A screen of the console. It reads the app through ``console`` (a ``ConsoleHost``)
    and asks it to act by posting ``console.messages``; it never imports the app. Its
    reactives are watched on ``self.app``: ``watch`` needs the DOM node itself."""

    @property
    def console(self) -> ConsoleHost:
        """The hosting app, as screens see it.

        Raises:
            TypeError: the screen runs in an app that is not a console host.
        """
        app = self.app
        if not isinstance(app, ConsoleHost):
            raise TypeError(f"{type(self).__name__} needs a console app, not {type(app)}")
        return app
