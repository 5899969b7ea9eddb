"""Run ``justo-console`` on a machine where nothing answers on localhost:6379.

``python -m tests.justo.no_local_redis ARGS…`` is ``python -m justo.cli ARGS…`` with every
TCP connection to port 6379 on loopback refused, as the kernel refuses one when no server
listens there. The CLI's code is not touched: only what the network answers. Tests need
this because the CLI's probe always asks about port 6379, and the machine running the
suite may have a shared Redis there that tests must never write to.
"""

from __future__ import annotations

import _socket
import errno
import runpy
import socket
from typing import Any

LOCAL_REDIS_PORT = 6379
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _local_redis(address: Any) -> bool:
    return (
        isinstance(address, tuple)
        and len(address) >= 2
        and address[0] in LOOPBACK
        and address[1] == LOCAL_REDIS_PORT
    )


def _connect(self: _socket.socket, address: Any) -> None:
    if _local_redis(address):
        raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    _real_connect(self, address)


def _connect_ex(self: _socket.socket, address: Any) -> int:
    if _local_redis(address):
        return errno.ECONNREFUSED
    return _real_connect_ex(self, address)


def refuse_local_redis() -> None:
    """From now on, in this process, connecting to loopback port 6379 is refused."""
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]


if __name__ == "__main__":
    refuse_local_redis()
    runpy.run_module("justo.cli", run_name="__main__", alter_sys=True)
