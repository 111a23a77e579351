"""How taskiq's clients connect: taskiq-aio-pika opens aio-pika robust connections from a
URL; the run's heartbeat goes in the URL's query, as aio-pika reads it."""

from __future__ import annotations

from mqcompare.stacks import client_heartbeat

HEARTBEAT_S = client_heartbeat()


def broker_url(url: str) -> str:
    """The first node of a `;`-separated list (taskiq-aio-pika takes one URL), with the
    run's heartbeat."""
    first = url.split(";")[0]
    if HEARTBEAT_S is None:
        return first
    return f"{first}{'&' if '?' in first else '?'}heartbeat={HEARTBEAT_S}"
