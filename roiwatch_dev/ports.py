"""Free TCP ports for the servers the tests and the demo start (broker, picture server, HA)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

# Ports the kernel hands out for port 0 come from the range it also gives every outgoing
# connection, so a client connecting between the pick and the server's bind could take the port
# ("Address already in use"). Ports below that range are only ever taken by a listener.
_FIRST = 10000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        # As the servers do: a port in TIME_WAIT after a previous run is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if it is free, else a free port on 127.0.0.1 below the ephemeral range."""
    if preferred and _bindable(preferred):
        return preferred
    last = max(_FIRST + 1000, _ephemeral_start() - 1)
    for _ in range(1000):
        port = random.randint(_FIRST, last)
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port between {_FIRST} and {last}")
