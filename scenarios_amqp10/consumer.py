"""The AMQP 1.0 client's consumer for the counting consumer (consumer/): a receiver with
credit `prefetch`, pulled with a short timeout so that `stop` is seen; each delivery
accepted (ack) or released (requeue)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rabbitmq_amqp_python_client import AddressHelper
from rabbitmq_amqp_python_client.qpid.proton import Timeout

from consumer.reconnect import reconnecting
from scenarios_amqp10.connect import close, connect

PULL_S = 0.2


class Lost(Exception):
    """The connection or link broke (the client raises some of these as BaseException)."""


def consume(
    url: str,
    queue: str,
    arguments: dict[str, Any],
    prefetch: int,
    ack: str,
    handle: Callable[..., None],
    stop: threading.Event,
) -> None:
    """Consume `queue` until `stop` is set, reconnecting after every connection loss. The
    queue is the run's, declared by the run (the client declares through its management
    API, which would not take the run's arguments as they are)."""

    def session(connected: Callable[[], None]) -> None:
        try:
            env, conn = connect(url)
        except BaseException as exc:
            raise Lost(type(exc).__name__) from None
        try:
            consumer = conn.consumer(AddressHelper.queue_address(queue), credit=prefetch or 10)
            # the client runs a consumer by callbacks; its blocking receiver lets this loop
            # pull with a timeout and see `stop`
            receiver = consumer._receiver
            connected()
            while not stop.is_set():
                try:
                    message = receiver.receive(timeout=PULL_S)
                except Timeout:
                    continue
                count = int(message.delivery_count or 0)
                settle = _settle(receiver)
                if ack == "auto":  # the closest AMQP 1.0 has: settled as it arrives
                    settle()
                    settle = _noop
                handle(bytes(message.body), count > 0, settle, {"x-delivery-count": count})
        except (Lost, KeyboardInterrupt):
            raise
        except BaseException as exc:
            raise Lost(type(exc).__name__) from None
        finally:
            close(env)

    reconnecting(session, (Lost, OSError), stop)


def _settle(receiver: Any) -> Callable[..., None]:
    def settle(ok: bool = True) -> None:
        """Accept the delivery, or release it to be delivered again."""
        receiver.accept() if ok else receiver.release(delivered=True)

    return settle


def _noop(ok: bool = True) -> None:
    pass
