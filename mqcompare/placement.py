"""Where a run's clients sit on a cluster, and what that means for their sockets.

On a cluster every client has a home node: producer p the node the run's placement gives
it (p mod N when spread), the consumer its own. Its broker URL is the cluster's list of
node URLs starting at its home (the failover order it tries them in), and every socket
it opens to a node leaves from its home node's address, so a partition that cuts that
node off cuts its clients off too, as if they ran beside it (a client process is
"placed" on a node, it does not choose where its packets come from).

The runner hands the placement to its children in MQCOMPARE_PLACEMENT; a child that has
it calls `install()` before it connects (`python -m mqcompare.placed MODULE ...` does)."""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import runpy
import socket
import sys
from typing import Any

PLACEMENT_ENV = "MQCOMPARE_PLACEMENT"

# a context variable, not a thread-local: producers may be threads or asyncio tasks
_home: contextvars.ContextVar[int] = contextvars.ContextVar("home")
_config: dict[str, Any] = {}


def describe(addresses: list[str], producers: list[int], consumer: int) -> dict[str, Any]:
    """The placement as the runner records it and hands it on."""
    return {"addresses": addresses, "producers": producers, "consumer": consumer}


def rotate(url: str, home: int) -> str:
    """A `;` list of node URLs, starting at node `home` (a single URL stays as it is)."""
    urls = url.split(";")
    if len(urls) == 1:
        return url
    home %= len(urls)
    return ";".join(urls[home:] + urls[:home])


def producer_url(url: str, p: int) -> str:
    """The URL producer p connects with: the cluster's list starting at its home node.
    A stack calls this where a producer opens a connection of its own."""
    homes = _config.get("producers") or []
    return rotate(url, homes[p % len(homes)]) if homes else url


def set_producer(p: int) -> None:
    """This thread (or asyncio task) works for producer p: its sockets leave from p's home node."""
    homes = _config.get("producers") or []
    if homes:
        _home.set(homes[p % len(homes)])


def install(config: dict[str, Any] | None = None) -> None:
    """Take the placement (from the environment unless given) and bind every socket this
    process opens to a node to the address of its thread's home (else the process's)."""
    global _config
    if config is None:
        text = os.environ.get(PLACEMENT_ENV)
        if not text:
            return
        config = json.loads(text)
    _config = config
    addresses: list[str] = list(config["addresses"])
    nodes = set(addresses)
    default_home = int(config.get("home", config.get("consumer", 0)))
    original = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family == socket.AF_INET and isinstance(address, tuple) and address[0] in nodes:
            home = _home.get(default_home)
            # already bound (a retried non-blocking connect): keep it
            with contextlib.suppress(OSError):
                self.bind((addresses[home], 0))
        original(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]


def main() -> None:
    """`python -m mqcompare.placed MODULE ARGS...`: run MODULE placed."""
    install()
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
