"""A listening socket bound before a server says it serves (the oracle, the explorer)."""

from __future__ import annotations

import socket

from .errors import ConfigError

__all__ = ["bind_listener"]


def bind_listener(host: str, port: int, what: str) -> socket.socket:
    """The listening socket for `what` (e.g. "oracle"); ConfigError when the port is taken, so that
    "serving on ..." is only said once the port is ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            f"another process uses that port (another {what}?): stop it, or pass --port PORT",
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
