"""Starting the console from the CLI: Redis, checks, the in-process supervisor, the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from redis.asyncio import Redis

from console.app import JustoConsole
from console.source import RedisSource
from engine.admin import Redactor
from engine.client import make_client, redact_url
from engine.errors import ConfigError, EngineError
from engine.logs import secret_values, setup_logging
from engine.runtime.connection import RedisRuntime, check_redis
from engine.runtime.service import validate_modules
from engine.runtime.settings import Settings
from engine.runtime.supervisor import Supervisor
from justo.cli.common import QUIET_LOGGERS
from justo.jobs.wiring import open_database
from justo.service import run_until_stopped_and_close, start_supervisor

log = logging.getLogger("justo")


class InProcessSupervisor:
    """The supervisor, run inside the console's event loop with its own Redis client."""

    def __init__(
        self,
        url: str,
        settings: Settings,
        env: Mapping[str, str],
        *,
        demo: bool,
        allow_eviction: bool,
    ) -> None:
        self.url = url
        self.settings = settings
        self.env = env
        self.demo = demo
        self.allow_eviction = allow_eviction
        self.supervisor: Supervisor | None = None
        self._stop_asked: bool | None = None

    async def run(self) -> None:
        """Check Redis, start the supervisor and run it until ``request_stop``."""
        redis = make_client(self.url)
        try:
            self.supervisor, jobs = await start_supervisor(
                redis, self.settings, self.env, demo=self.demo, allow_eviction=self.allow_eviction
            )
            if self._stop_asked is not None:
                self.supervisor.request_stop(fast=self._stop_asked)
            await run_until_stopped_and_close(self.supervisor, jobs, demo=self.demo)
        except EngineError as exc:
            log.error("supervisor could not start: %s", exc)
            raise
        finally:
            await redis.aclose()

    def request_stop(self, *, fast: bool = False) -> None:
        """Stop gracefully (or at once with ``fast``)."""
        self._stop_asked = fast
        if self.supervisor is not None:
            self.supervisor.request_stop(fast=fast)


async def _precheck(url: str, prefix: str, allow_eviction: bool) -> None:
    redis: Redis = make_client(url)
    try:
        await check_redis(redis, prefix=prefix, allow_eviction=allow_eviction)
    finally:
        await redis.aclose()


def run_console(
    env: Mapping[str, str],
    settings: Settings,
    *,
    demo: bool,
    allow_eviction: bool,
    embedded: bool,
    monitor: bool,
) -> int:
    """Open the console (with the supervisor unless ``monitor``); returns the exit code."""
    setup_logging(
        log_dir=settings.data_dir / "logs",
        queues=[q.name for q in settings.queues],
        stdout=False,
        env=env,
        quiet=QUIET_LOGGERS,
    )
    runtime = RedisRuntime(env, settings.data_dir, probe_localhost=not embedded)
    try:
        url = runtime.url()
        # Monitoring never refuses: the Redis panel shows an unsafe policy in red instead.
        asyncio.run(_precheck(url, settings.prefix, allow_eviction or monitor))
        supervisor = None
        if not monitor:
            validate_modules(settings)
            # Refuse an outdated configured database before the screen opens, with the
            # command to run, rather than inside the app.
            open_database(env, settings)[0].dispose()
            supervisor = InProcessSupervisor(
                url, settings, env, demo=demo, allow_eviction=allow_eviction
            )
        where = "embedded Redis" if runtime.embedded else redact_url(url)
        mode = "monitor" if monitor else "supervisor" + (" + demo feed" if demo else "")
        app = JustoConsole(
            RedisSource(make_client(url), settings),
            supervisor=supervisor,
            mode_label=f"{where} · {mode}",
            # The screens mask the environment's secret values too (e.g. an API key a
            # failing job echoed into its error).
            redactor=Redactor(secret_values(env)),
        )
        return app.run() or 0
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    except EngineError as exc:
        print(f"error: {exc.title}: {exc}")
        return 1
    finally:
        runtime.close()
