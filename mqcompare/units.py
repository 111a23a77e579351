"""Durations and URLs as users write them and as results show them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from mqcompare.errors import BadInput

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)?$")


def parse_duration(text: str, flag: str) -> float:
    """Seconds from '2', '2s', '1.5s' or '500ms'."""
    m = _DURATION.match(text.strip())
    if not m:
        raise BadInput(flag, f"{text!r} is not a duration; use e.g. 2s, 1.5s or 500ms")
    value = float(m.group(1))
    return value / 1000.0 if m.group(2) == "ms" else value


def fmt_seconds(value: float) -> str:
    return f"{value:g}s"


def redact_url(url: str) -> str:
    """The URL with its password replaced by *** (passwords never leave the process)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
