"""Hand-built journals for checker tests: write what a writer of format v1 would write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def header(role: str, run_id: str = "test") -> dict[str, Any]:
    return {
        "ev": "header",
        "format": "mqcompare.journal/1",
        "role": role,
        "pid": 1,
        "run_id": run_id,
    }


def write(path: Path, role: str, records: list[dict[str, Any]], torn: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [orjson.dumps(header(role))] + [orjson.dumps(r) for r in records]
    path.write_bytes(b"\n".join(lines) + b"\n" + torn)
    return path


def inv(p: int, s: int, t: float) -> dict[str, Any]:
    return {"ev": "invoke", "p": p, "s": s, "t": t}


def ok(p: int, s: int, t: float) -> dict[str, Any]:
    return {"ev": "ok", "p": p, "s": s, "t": t}


def fail(p: int, s: int, t: float, err: str = "ConnectionRefused") -> dict[str, Any]:
    return {"ev": "fail", "p": p, "s": s, "t": t, "err": err}


def info(p: int, s: int, t: float, err: str = "StreamLostError") -> dict[str, Any]:
    return {"ev": "info", "p": p, "s": s, "t": t, "err": err}


def dlv(
    p: int, s: int, t: float, sent: float | None = None, redelivered: bool = False
) -> dict[str, Any]:
    return {
        "ev": "deliver",
        "p": p,
        "s": s,
        "t": t,
        "sent": t - 0.001 if sent is None else sent,
        "redelivered": redelivered,
    }
