"""The AMQP 1.0 client's publishers: a connection and a publisher per producer thread.
Every publish waits for the broker's settlement: accepted is ok; rejected or released is
failed (the broker said so); anything else leaves the outcome open."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from rabbitmq_amqp_python_client import (
    AddressHelper,
    AmqpMessageRejectedException,
    Message,
)
from rabbitmq_amqp_python_client.exceptions import (
    ArgumentOutOfRangeException,
    ValidationCodeException,
)
from rabbitmq_amqp_python_client.qpid.proton._utils import SendException

from mqcompare.envelope import message_id
from mqcompare.stacks import NotSent, RetryHook, producer_url
from scenarios_amqp10.connect import close, connect

# the broker's settlement said no, or the publisher was not open (nothing written)
_NOT_SENT = (AmqpMessageRejectedException, SendException, ValidationCodeException)


class Publisher:
    retries_itself = False

    def __init__(self, url: str, queue: str) -> None:
        self.url, self.address = url, AddressHelper.queue_address(queue)
        self.env: Any = None
        self.publisher: Any = None

    def _open(self) -> Any:
        try:
            self.env, conn = connect(self.url)
            self.publisher = conn.publisher(self.address)
        except BaseException as exc:  # nothing was published on it
            self.reset()
            raise NotSent(_plain_error(exc)) from None
        return self.publisher

    def publish(self, p: int, s: int, body: bytes) -> None:
        publisher = self.publisher or self._open()
        message = Message(body=body, id=message_id(p, s), durable=True)
        try:
            publisher.publish(message)
        except _NOT_SENT as exc:
            raise NotSent(_plain_error(exc), _reply(exc)) from None
        except (ArgumentOutOfRangeException, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a lost connection, a timeout: the outcome is open
            raise _plain_error(exc) from None

    def reset(self) -> None:
        if self.env is not None:
            close(self.env)
        self.env = self.publisher = None

    def close(self) -> None:
        self.reset()


def _plain_error(exc: BaseException) -> Exception:
    """`exc` as an Exception of the same name: some of the client's own derive from
    BaseException, which a producer's loop must not let through, and the journal records
    errors by their name."""
    if isinstance(exc, Exception):
        return exc
    return type(type(exc).__name__, (Exception,), {})(str(exc))


def _reply(exc: BaseException) -> str:
    if isinstance(exc, AmqpMessageRejectedException):
        return "rejected"
    if isinstance(exc, SendException):
        return "released"
    return ""


class OwnConnections:
    def __init__(self, spec: Any, url: str) -> None:
        self.url, self.queue = url, spec.queue

    def publisher(self, p: int, on_retry: RetryHook) -> Publisher:
        return Publisher(producer_url(self.url, p), self.queue)

    def close(self) -> None:
        pass


def connection_per_thread(spec: Any, url: str) -> OwnConnections:
    return OwnConnections(spec, url)


def settings(spec: Any) -> dict[str, Any]:
    return {
        "rabbitmq_amqp_python_client_version": version("rabbitmq-amqp-python-client"),
        "durable": True,
        "settlement": "every publish awaits the broker's outcome (AMQP 1.0)",
        "recovery": "off: the run reconnects",
        "retry": f"reconnect and publish again, up to {spec.retry_budget_s:g} s per message",
    }
