"""Supervisor settings: built-in defaults, overridden by a TOML file, then by the environment.

The file is ``--config PATH``, else ``JUSTO_CONFIG``, else ``./justo.toml`` when it exists::

    timezone = "America/Sao_Paulo"
    grace_seconds = 25
    misfire_grace_seconds = 60
    import = ["my_company.jobs"]          # handler modules

    [queues.mail]                          # override a default queue ...
    concurrency = 8
    [queues.exports]                       # ... or add a new one
    concurrency = 2
    attempts = 5
    backoff = { kind = "fixed", delay_ms = 5000 }
    timeout_seconds = 120

    [[recurring]]
    name = "nightly-export"
    queue = "exports"
    job = "export-all"
    cron = "0 30 1 * * *"                  # 6 fields: seconds first
    data = { format = "csv" }

Environment overrides: ``JUSTO_TIMEZONE``, ``JUSTO_PREFIX``, ``JUSTO_IMPORT`` (comma list),
``JUSTO_GRACE_SECONDS``, ``JUSTO_MISFIRE_GRACE_SECONDS`` and, per queue,
``JUSTO_QUEUE_<NAME>_CONCURRENCY`` / ``_ATTEMPTS`` / ``_TIMEOUT`` (name upper-cased, ``-``
as ``_``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.errors import ConfigError, InvalidJobError
from engine.options import Backoff
from engine.runtime.config import QueueConfig, data_dir, key_prefix
from engine.runtime.cron import CronJob

DEFAULT_TIMEZONE = "America/Sao_Paulo"
"""Time zone of cron expressions unless configured."""

QUEUE_KEYS = {
    "concurrency",
    "attempts",
    "backoff",
    "timeout_seconds",
    "keep_completed",
    "keep_failed",
    "priority",
    "max_payload",
    "lease_ms",
    "max_stalls",
}
"""Keys accepted in a ``[queues.<name>]`` table."""


@dataclass(frozen=True)
class Settings:
    """Everything the supervisor needs to know, resolved once at start."""

    queues: tuple[QueueConfig, ...] = ()
    recurring: tuple[CronJob, ...] = ()
    timezone: str = DEFAULT_TIMEZONE
    prefix: str = "justo"
    data_dir: Path = field(default_factory=data_dir)
    imports: tuple[str, ...] = ()
    grace_s: float = 25.0
    misfire_grace_s: float = 60.0
    environment: str = "development"
    """``production`` when ``JUSTO_ENV`` or ``NODE_ENV`` says so (drain then needs --force)."""

    def queue(self, name: str) -> QueueConfig:
        """The queue called ``name``.

        Raises:
            ConfigError: no such queue is configured.
        """
        for config in self.queues:
            if config.name == name:
                return config
        known = ", ".join(c.name for c in self.queues)
        raise ConfigError(f"unknown queue {name!r} (configured: {known})")

    @property
    def zone(self) -> ZoneInfo:
        """The cron time zone."""
        return ZoneInfo(self.timezone)


def load_settings(
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    extra_imports: tuple[str, ...] = (),
    *,
    queues: tuple[QueueConfig, ...] = (),
    recurring: tuple[CronJob, ...] = (),
) -> Settings:
    """The application's defaults (``queues``, ``recurring``), then the TOML file, then the
    environment.

    Raises:
        ConfigError: the file cannot be read or holds an invalid value.
    """
    env = os.environ if env is None else env
    raw = _read_file(_config_path(env, config_path))
    queues = _queues(queues, raw.get("queues", {}), env)
    timezone = env.get("JUSTO_TIMEZONE") or str(raw.get("timezone", DEFAULT_TIMEZONE))
    _check_zone(timezone)
    imports = tuple(raw.get("import", ())) + _csv(env.get("JUSTO_IMPORT", "")) + extra_imports
    settings = Settings(
        queues=queues,
        recurring=_recurring(recurring, raw.get("recurring", []), queues),
        timezone=timezone,
        prefix=env.get("JUSTO_PREFIX") or str(raw.get("prefix", key_prefix(env))),
        data_dir=data_dir(env),
        imports=imports,
        grace_s=_number(env.get("JUSTO_GRACE_SECONDS"), raw.get("grace_seconds", 25.0)),
        misfire_grace_s=_number(
            env.get("JUSTO_MISFIRE_GRACE_SECONDS"), raw.get("misfire_grace_seconds", 60.0)
        ),
        environment=(env.get("JUSTO_ENV") or env.get("NODE_ENV") or "development").lower(),
    )
    return settings


def _config_path(env: Mapping[str, str], given: Path | None) -> Path | None:
    if given is not None:
        return given
    if env.get("JUSTO_CONFIG"):
        return Path(env["JUSTO_CONFIG"])
    default = Path("justo.toml")
    return default if default.exists() else None


def _read_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _queues(
    defaults: tuple[QueueConfig, ...], tables: dict[str, Any], env: Mapping[str, str]
) -> tuple[QueueConfig, ...]:
    merged = {c.name: c for c in defaults}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"[queues.{name}] must be a table")
        unknown = set(table) - QUEUE_KEYS
        if unknown:
            raise ConfigError(f"[queues.{name}]: unknown key(s) {', '.join(sorted(unknown))}")
        merged[name] = _apply(merged.get(name, QueueConfig(name, 1)), table)
    return tuple(_apply(c, _env_table(env, c.name)) for c in merged.values())


def _env_table(env: Mapping[str, str], name: str) -> dict[str, Any]:
    stem = "JUSTO_QUEUE_" + name.upper().replace("-", "_") + "_"
    table: dict[str, Any] = {}
    for suffix, key in (
        ("CONCURRENCY", "concurrency"),
        ("ATTEMPTS", "attempts"),
        ("TIMEOUT", "timeout_seconds"),
    ):
        if env.get(stem + suffix):
            table[key] = _number(env[stem + suffix], None)
    return table


def _apply(config: QueueConfig, table: dict[str, Any]) -> QueueConfig:
    try:
        opts: dict[str, Any] = {
            k: v for k, v in table.items() if k not in ("concurrency", "backoff", "timeout_seconds")
        }
        if "backoff" in table:
            opts["backoff"] = Backoff.from_json(table["backoff"])
        if "timeout_seconds" in table:
            opts["timeout_s"] = float(table["timeout_seconds"])
        options = dataclasses.replace(config.options, **opts)
        concurrency = int(table.get("concurrency", config.concurrency))
    except (TypeError, ValueError, InvalidJobError) as exc:
        raise ConfigError(f"queue {config.name!r}: {exc}") from exc
    if concurrency < 1:
        raise ConfigError(f"queue {config.name!r}: concurrency must be at least 1")
    return QueueConfig(config.name, concurrency, options)


def _recurring(
    defaults: tuple[CronJob, ...], items: list[Any], queues: tuple[QueueConfig, ...]
) -> tuple[CronJob, ...]:
    jobs = {job.name: job for job in defaults}
    for item in items:
        if not isinstance(item, dict):
            raise ConfigError("each [[recurring]] entry must be a table")
        try:
            job = CronJob(
                name=str(item["name"]),
                queue=str(item["queue"]),
                job=str(item["job"]),
                cron=str(item["cron"]),
                data=item.get("data"),
            )
        except KeyError as exc:
            raise ConfigError(f"[[recurring]] entry is missing {exc}") from exc
        jobs[job.name] = job
    names = {q.name for q in queues}
    for job in jobs.values():
        if job.queue not in names:
            raise ConfigError(f"recurring job {job.name!r} names unknown queue {job.queue!r}")
        json.dumps(job.data)
    return tuple(jobs.values())


def _check_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {name!r}") from exc


def _number(env_value: str | None, default: Any) -> Any:
    value = env_value if env_value is not None else default
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"not a number: {value!r}") from exc
    return int(number) if number.is_integer() else number


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())
