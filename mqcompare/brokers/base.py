"""BrokerControl: what every broker kind offers a run (a URL, a health check, the queue's
own view, clean-up), whatever it can suffer; its capabilities are protocols of
`capabilities.py` that a broker kind offers by having the method."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from mqcompare.admin import Admin, QueueAdmin
from mqcompare.amqp import broker_versions
from mqcompare.brokers.capabilities import Evaluates
from mqcompare.brokers.erlang import count_unacked, set_consumer_timeout
from mqcompare.errors import BadInput, InfrastructureError
from mqcompare.units import redact_url

CTL_TIMEOUT_S = 60.0
# a fault's broker must be back within this, or the run stops (exit 3)
UP_TIMEOUT_S = 90.0


class BrokerControl:
    """The broker a run talks to."""

    protocol = "amqp"  # what its clients speak: a stack lists the protocols it speaks
    runs_its_own = "--broker local or --broker docker"  # the brokers of its kind mqcompare runs
    url: str = ""
    owned: bool = False  # started by this process, so stopped by it
    addresses: tuple[str, ...] = ()  # a cluster's node addresses, node1 first; () for one
    _said: dict[str, str] | None = None  # what versions() was told

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        default = 5671 if parts.scheme == "amqps" else 5672
        return parts.hostname or "localhost", parts.port or default

    def describe(self) -> str:
        return self.display_url

    @classmethod
    def refuse(cls, spec: Any) -> None:
        """BadInput for a setting of the spec that this kind of broker has no use for,
        before any broker starts (RabbitMQ: the Redis transport's settings)."""
        if spec.visibility_timeout_s:
            raise BadInput(
                "--visibility-timeout", "a Redis transport's setting: use --broker redis"
            )
        if spec.redis_persistence != "default":
            raise BadInput("--redis-persistence", "a private Redis's setting: use --broker redis")

    def versions(self) -> dict[str, str]:
        """What the broker says it is: {'product', 'version', and the product's own key
        ('rabbitmq'), 'erlang'}, or {'error': why} (never raises). Asked once: a broker
        does not change its version while it serves (a restart fault brings back the same
        one), and every run of a matrix asks it twice."""
        if self._said is None:
            said = broker_versions(self.url)
            if "error" in said:
                return said  # asked again next time
            self._said = said
        return dict(self._said)

    def open_admin(self, hooks: Any) -> QueueAdmin:
        """The run's queue administration with a stack's admin.py hooks (`HOOKS`); exit 3
        here for an unreachable broker or refused credentials."""
        return Admin(self.url, hooks.HOOKS)

    @property
    def name(self) -> str:
        """What `broker down` says it stopped."""
        return self.describe()

    def kept_words(self) -> str:
        """What `broker up` and `broker status` say of it."""
        return f"{self.describe()} ({self.display_url})"

    def check_reachable(self, timeout: float = 3.0) -> None:
        host, port = self.host_port
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise InfrastructureError(f"broker unreachable at {host}:{port}: {reason}") from None

    def heal(self) -> None:
        """Make sure the broker answers before a run (a fault may have left it dead)."""
        self.check_reachable()

    # -- its nodes, which faults strike -----------------------------------------------
    def members(self) -> list[object]:
        """What a fault on a node can strike: the broker itself, or a cluster's nodes."""
        return [self]

    def nodes_for(self, target: str, queue: str) -> list[int]:
        """The indexes into members() that a fault's TARGET names now. One broker is every
        target: its own node1, the leader and follower of nothing (the run's spec refused
        `follower` already)."""
        if target and target not in ("leader", "all", "random", "node1"):
            raise InfrastructureError(f"{target}: the broker is one node")
        return [0]

    def leader(self, queue: str) -> int | None:
        """The index of the cluster node that leads `queue` (None: one broker, or unknown)."""
        return None

    def evaluators(self) -> list[Callable[[str], str]]:
        """Something that evaluates an expression on each of the broker's nodes."""
        return [m.eval for m in self.members() if isinstance(m, Evaluates)]

    # -- what only the broker knows or sets --------------------------------------------
    def set_consumer_timeout(self, seconds: float) -> Callable[[], None]:
        """Set the broker's consumer timeout for the channels opened from now on; returns
        what restores it."""
        evaluators = self.evaluators()
        if not evaluators:
            raise InfrastructureError(f"{self.display_url} cannot be told what to evaluate")
        restores: list[Callable[[], None]] = []

        def restore() -> None:
            for undo in restores:
                with contextlib.suppress(InfrastructureError):
                    undo()

        try:
            for evaluate in evaluators:
                restores.append(set_consumer_timeout(evaluate, seconds))
        except InfrastructureError:
            restore()  # the nodes already set go back before the run is refused
            raise
        return restore

    def unacked(self, queue: str) -> int | None:
        """Messages of `queue` that consumers hold unacknowledged, as the first node that
        answers says; None: this broker cannot be asked (InfrastructureError: no node
        could answer now)."""
        evaluators = self.evaluators()
        if not evaluators:
            return None  # e.g. an external broker: only its management API could say
        failure: InfrastructureError | None = None
        for evaluate in evaluators:
            try:
                return count_unacked(evaluate, self.url, queue)
            except InfrastructureError as exc:
                failure = exc
        raise failure or InfrastructureError(f"no node to ask about {queue}")

    def set_policy(self, name: str, pattern: str, definition: dict[str, object]) -> None:
        """A queue policy (e.g. classic mirroring's ha-mode) on the broker's default vhost."""
        raise InfrastructureError(
            f"--queue mirrored: mqcompare sets its ha-mode policy only on a broker it runs, "
            f"not on {self.display_url}; use --broker local or --broker docker"
        )

    def clear_policy(self, name: str) -> None:
        pass

    def queue_seen(self, queue: str) -> dict[str, str] | None:
        """The broker's own view of a queue: its type and policy (None: cannot ask)."""
        return None

    # -- what it said, and the end ------------------------------------------------------
    def log_excerpt(self, since: float | None = None, lines: int = 400) -> str:
        return ""

    def boot_output(self, lines: int = 200) -> str:
        """What the broker printed while booting (for a run a fault left without one)."""
        return ""

    def stop(self) -> None:
        """Stop it whether or not this object started it (`broker down`)."""
        self.close()

    def close(self) -> None:
        """Stop what this object started; leave alone what it found running."""
