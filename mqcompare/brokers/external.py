"""A broker given by URL: talked to as is, never restarted, so it suffers no broker fault
(it offers no capability)."""

from __future__ import annotations

from urllib.parse import urlsplit

from mqcompare.brokers.base import BrokerControl
from mqcompare.errors import BadInput
from mqcompare.units import redact_url


class ExternalBroker(BrokerControl):
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise BadInput("--broker", f"{redact_url(url)} is not an amqp://host[:port] URL")
        self.url = url
