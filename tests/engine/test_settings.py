"""Settings: the application's defaults, then the TOML file, then the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.options import QueueOptions
from engine.runtime.config import QueueConfig
from engine.runtime.cron import CronJob
from engine.runtime.settings import Settings, load_settings

DEFAULTS = (QueueConfig("mail", 4, QueueOptions(attempts=5)), QueueConfig("export", 1))
NIGHTLY = CronJob("nightly", "export", "export-all", "0 1 * * *")


def test_no_defaults_no_file_means_no_queues(tmp_path: Path) -> None:
    settings = load_settings({"JUSTO_DATA_DIR": str(tmp_path)}, None)
    assert settings.queues == () and settings.recurring == ()


def test_file_and_environment_override_the_given_defaults(tmp_path: Path) -> None:
    config = tmp_path / "justo.toml"
    config.write_text(
        'timezone = "UTC"\n[queues.mail]\nconcurrency = 8\n[queues.thumbs]\nattempts = 2\n'
    )
    env = {"JUSTO_DATA_DIR": str(tmp_path), "JUSTO_QUEUE_MAIL_ATTEMPTS": "7"}
    settings = load_settings(env, config, queues=DEFAULTS, recurring=(NIGHTLY,))
    assert [q.name for q in settings.queues] == ["mail", "export", "thumbs"]
    mail = settings.queue("mail")
    assert (mail.concurrency, mail.options.attempts) == (8, 7)
    assert settings.queue("thumbs").options.attempts == 2
    assert settings.recurring == (NIGHTLY,)
    assert settings.timezone == "UTC"


def test_a_recurring_job_must_name_a_configured_queue(tmp_path: Path) -> None:
    config = tmp_path / "justo.toml"
    config.write_text('[[recurring]]\nname = "x"\nqueue = "nope"\njob = "j"\ncron = "* * * * *"\n')
    with pytest.raises(ConfigError, match="recurring job 'x' names unknown queue 'nope'"):
        load_settings({"JUSTO_DATA_DIR": str(tmp_path)}, config, queues=DEFAULTS)


def test_unknown_queue_lists_the_configured_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown queue 'x' \(configured: mail, export\)"):
        Settings(queues=DEFAULTS).queue("x")


def test_a_backoff_that_cannot_be_computed_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "justo.toml"
    config.write_text('[queues.mail]\nbackoff = { kind = "linear", delay_ms = 100 }\n')
    with pytest.raises(ConfigError, match="queue 'mail': backoff kind must be fixed or"):
        load_settings({"JUSTO_DATA_DIR": str(tmp_path)}, config, queues=DEFAULTS)
