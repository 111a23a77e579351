"""kombu's own retry, made visible: ensure() calls errback(exc, 0) after a failed publish
and errback(exc, interval > 0) after a failed reconnect, then on_revive() before it
publishes again. Every re-publish becomes a journaled attempt (celery publishes through
the same kombu call, so it uses this too)."""

from __future__ import annotations

from typing import Any, NoReturn

from amqp.exceptions import MessageNacked

from mqcompare.stacks import NotSent, RetryHook

NO_ROUTE = 312


class Attempts:
    """The retry callbacks for one message, and what its final exception means."""

    def __init__(self, p: int, s: int, on_retry: RetryHook) -> None:
        self.p, self.s, self.on_retry = p, s, on_retry
        # whether the latest attempt reached the wire: false from a failed publish until
        # kombu has reconnected and is about to publish again
        self.sending = True

    def errback(self, exc: BaseException, interval: float) -> None:
        if interval == 0:  # a publish failed (a failed reconnect has interval > 0)
            self.on_retry(self.p, self.s, exc)
            self.sending = False

    def on_revive(self, _channel: Any) -> None:
        self.sending = True

    def policy(self, base: dict[str, Any]) -> dict[str, Any]:
        return {**base, "errback": self.errback, "on_revive": self.on_revive}

    def reraise(self, exc: Exception) -> NoReturn:
        """Raise what a publish that kombu gave up on means for the journal."""
        if getattr(exc, "reply_code", None) == NO_ROUTE:
            # a mandatory message no queue took, returned (py-amqp raises a Basic.Return)
            raise NotSent(exc, f"{NO_ROUTE} {getattr(exc, 'reply_text', '')}") from exc
        if isinstance(exc, MessageNacked) or not self.sending or _refused(exc):
            # the broker said no (kombu does not retry a nack), kombu gave up while
            # reconnecting, or the connection was refused: the last attempt never went out
            raise NotSent(exc) from exc
        raise exc


def _refused(exc: BaseException | None) -> bool:
    """The connection was refused (kombu wraps it as OperationalError): nothing was sent.
    Seen with no retries at all (a retry budget of 0), where no errback says so."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ConnectionRefusedError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
