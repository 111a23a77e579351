"""How every dramatiq client of a run connects: dramatiq's RabbitmqBroker over pika, given
the run's URL (a cluster's nodes, `;`-separated, become pika's list of nodes to try) with
the heartbeat every stack's clients send."""

from __future__ import annotations

from mqcompare.stacks import client_heartbeat

HEARTBEAT_S = client_heartbeat()  # None: pika's own (it takes the broker's proposal)


def broker_url(url: str) -> str | list[str]:
    """RabbitmqBroker's `url`: one URL, or the list of a cluster's, each with its heartbeat."""
    beat = f"heartbeat={HEARTBEAT_S}" if HEARTBEAT_S is not None else ""
    urls = [u + ("&" if "?" in u else "?") + beat if beat else u for u in url.split(";")]
    return urls if len(urls) > 1 else urls[0]
