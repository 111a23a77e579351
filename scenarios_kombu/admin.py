"""Queue administration through kombu: declare, depth, delete, and the credentials check."""

from __future__ import annotations

import contextlib
from typing import Any

import amqp.exceptions as ax
from kombu import Connection

from mqcompare.errors import InfrastructureError
from mqcompare.units import redact_url
from scenarios_kombu.connect import CONNECT_TIMEOUT_S


class Admin:
    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Connection | None = None
        self._ch: Any = None
        self._channel()

    def _channel(self) -> Any:
        if self._ch is None:
            self.close()
            conn = Connection(self.url, connect_timeout=CONNECT_TIMEOUT_S)
            where = f"{conn.hostname}:{conn.port or 5672}"
            try:
                conn.connect()
            except ax.AccessRefused:
                raise InfrastructureError(
                    f"broker at {where} refused the credentials of {redact_url(self.url)}"
                ) from None
            except ax.NotAllowed:
                raise InfrastructureError(
                    f"broker at {where} denied access to the vhost of {redact_url(self.url)}"
                ) from None
            except (OSError, ax.AMQPError) as exc:
                raise InfrastructureError(
                    f"broker unreachable at {where}: {type(exc).__name__}"
                ) from None
            self._conn, self._ch = conn, conn.channel()
        return self._ch

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._channel(), method)(**kwargs)
        except Exception:
            self.close()  # the next call reconnects
            raise

    def declare(self, queue: str, arguments: dict[str, Any]) -> None:
        self._call(
            "queue_declare",
            queue=queue,
            durable=True,
            auto_delete=False,
            arguments=arguments or None,
        )

    def depth(self, queue: str) -> int:
        ok = self._call("queue_declare", queue=queue, durable=True, auto_delete=False, passive=True)
        return int(ok.message_count)

    def delete(self, queue: str) -> None:
        self._call("queue_delete", queue=queue)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.release()
        self._conn = None
        self._ch = None
