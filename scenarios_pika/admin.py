"""Queue administration through pika: declare, depth, delete, and the credentials check."""

from __future__ import annotations

import contextlib
from typing import Any

import pika
import pika.exceptions as px

from mqcompare.errors import InfrastructureError
from mqcompare.units import redact_url
from scenarios_pika.connect import connect


class Admin:
    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: pika.BlockingConnection | None = None
        self._ch = None
        self._channel()  # fail now, with a clear message, rather than mid-run

    def _channel(self) -> Any:
        if self._ch is None or not self._ch.is_open:
            self.close()
            try:
                self._conn = connect(self.url)
            except (px.ProbableAuthenticationError, px.AuthenticationError):
                raise InfrastructureError(
                    f"broker at {_hostport(self.url)} refused the credentials of "
                    f"{redact_url(self.url)}"
                ) from None
            except px.ProbableAccessDeniedError:
                raise InfrastructureError(
                    f"broker at {_hostport(self.url)} denied access to the vhost of "
                    f"{redact_url(self.url)}"
                ) from None
            except px.AMQPConnectionError as exc:
                raise InfrastructureError(
                    f"broker unreachable at {_hostport(self.url)}: {type(exc).__name__}"
                ) from None
            self._ch = self._conn.channel()
        return self._ch

    def declare(self, queue: str, arguments: dict[str, Any]) -> None:
        self._channel().queue_declare(queue=queue, durable=True, arguments=arguments or None)

    def depth(self, queue: str) -> int:
        ok = self._channel().queue_declare(queue=queue, durable=True, passive=True)
        return int(ok.method.message_count)

    def delete(self, queue: str) -> None:
        self._channel().queue_delete(queue=queue)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
        self._ch = None


def _hostport(url: str) -> str:
    params = pika.URLParameters(url)
    return f"{params.host}:{params.port}"
