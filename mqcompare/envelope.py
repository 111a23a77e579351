"""The message body every stack sends: the id and the send time, nothing stack-specific."""

from __future__ import annotations

import orjson


def message_id(p: int, s: int) -> str:
    """The AMQP message_id property: "P:S"."""
    return f"{p}:{s}"


def encode(p: int, s: int, sent: float, padding: int = 0) -> bytes:
    body: dict[str, int | float | str] = {"p": p, "s": s, "sent": sent}
    if padding:
        body["pad"] = "x" * padding
    return orjson.dumps(body)


def decode(body: bytes) -> tuple[int, int, float]:
    """(producer, seq, sent) from a body; ValueError if it is not ours."""
    try:
        data = orjson.loads(body)
        return int(data["p"]), int(data["s"]), float(data["sent"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"not an mqcompare envelope: {body[:60]!r}") from exc
