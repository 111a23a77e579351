"""What a broker (or one node of it) can be made to suffer, as protocols a fault kind
names in its registry entry and checks with `isinstance` (docs/architecture.md,
"Brokers"). A broker kind offers a capability by having the method: nothing registers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from mqcompare.observe import PhaseLog


@runtime_checkable
class Restarts(Protocol):
    def restart(self, down: float, log: PhaseLog) -> None:
        """Stop gracefully, start again `down` s after it was seen down."""


@runtime_checkable
class Kills(Protocol):
    def kill(self, down: float, log: PhaseLog) -> None:
        """SIGKILL, start again `down` s after it was seen gone."""


@runtime_checkable
class Pauses(Protocol):
    def pause(self, down: float, log: PhaseLog) -> None:
        """Freeze (SIGSTOP, or the container's freezer) for `down` s."""


@runtime_checkable
class Evaluates(Protocol):
    def eval(self, expr: str, timeout: float = 60.0) -> str:
        """Evaluate an Erlang expression on the node; its printed value."""


@runtime_checkable
class DropsClients(Protocol):
    def drop_clients(self) -> int:
        """Close every client connection (the server keeps accepting new ones); how many."""


@runtime_checkable
class Partitions(Protocol):
    def partition(self, shape: str, down: float, log: PhaseLog, queue: str) -> None:
        """Cut the network between the nodes as `shape` says, for `down` s."""


@runtime_checkable
class Listens(Protocol):
    """A node of ours whose clients reach it on this loopback address and port: what a
    fault on the link between clients and node may impair (never the machine's own
    services)."""

    @property
    def endpoint(self) -> tuple[str, int]: ...
