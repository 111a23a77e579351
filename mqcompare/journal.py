"""Append-only journals, format v1 (docs/architecture.md): one JSON record per line, each line
written with a single unbuffered write on an O_APPEND descriptor, so a SIGKILLed
writer loses at most the line it was writing and threads never interleave lines."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

FORMAT = "mqcompare.journal/1"


class JournalError(ValueError):
    """A journal line that is neither valid nor a torn last line."""


class JournalWriter:
    """Writes one process's journal; safe to share between threads of that process."""

    def __init__(self, path: str | os.PathLike[str], role: str, run_id: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._write(
            {"ev": "header", "format": FORMAT, "role": role, "pid": os.getpid(), "run_id": run_id}
        )

    def _write(self, record: dict[str, Any]) -> None:
        self.append(orjson.dumps(record) + b"\n")

    def append(self, lines: bytes) -> None:
        """Write whole lines in one call (the producer joins an `ok` with the next `invoke`:
        one write instead of two, each still whole and in order)."""
        written = os.write(self._fd, lines)
        if written != len(lines):  # only a full disk gets here; finish rather than tear
            os.write(self._fd, lines[written:])

    def invoke(self, p: int, s: int) -> None:
        self.append(invoke_line(p, s, time.time()))

    def ok(self, p: int, s: int) -> None:
        self.append(ok_line(p, s, time.time()))

    def fail(self, p: int, s: int, err: str) -> None:
        self._write({"ev": "fail", "p": p, "s": s, "t": time.time(), "err": err})

    def info(self, p: int, s: int, err: str) -> None:
        self._write({"ev": "info", "p": p, "s": s, "t": time.time(), "err": err})

    def deliver(self, p: int, s: int, sent: float, redelivered: bool) -> None:
        self._write(
            {
                "ev": "deliver",
                "p": p,
                "s": s,
                "t": time.time(),
                "sent": sent,
                "redelivered": bool(redelivered),
            }
        )

    def reject(self, p: int, s: int, redelivered: bool, count: int | None) -> None:
        """A poison message failed (rejected with requeue, or its worker killed);
        `count`: its delivery count as the broker said (a quorum queue's
        x-delivery-count), None where it says none."""
        record = {"ev": "reject", "p": p, "s": s, "t": time.time(), "redelivered": redelivered}
        self._write(record | {"count": count})

    def dead(self, p: int, s: int, reason: str, count: int | None) -> None:
        """Found in the run's dead-letter queue at the end, with the broker's reason
        (its x-death header: delivery_limit, rejected, expired, maxlen)."""
        self._write(
            {"ev": "dead", "p": p, "s": s, "t": time.time(), "reason": reason} | {"count": count}
        )

    def left(self, p: int, s: int, count: int | None) -> None:
        """Still in the run's queue at the end, taken by the runner once every consumer
        had stopped (poison messages a queue redelivers for ever)."""
        self._write({"ev": "left", "p": p, "s": s, "t": time.time(), "count": count})

    def fault(self, kind: str, phase: str, t: float | None = None, **fields: Any) -> None:
        """A fault's phase (begin, down, up, end; readers ignore phases they do not know),
        with what the phase observed (`n`: the fault's place in the plan, `at`...)."""
        record = {"ev": "fault", "kind": kind, "phase": phase, "t": t or time.time()}
        self._write(record | fields)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def invoke_line(p: int, s: int, t: float) -> bytes:
    return orjson.dumps({"ev": "invoke", "p": p, "s": s, "t": t}) + b"\n"


def ok_line(p: int, s: int, t: float) -> bytes:
    return orjson.dumps({"ev": "ok", "p": p, "s": s, "t": t}) + b"\n"


def journal_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The journals of a run directory (DIR/journal/*.jsonl), or of a journal folder itself."""
    d = Path(directory)
    if (d / "journal").is_dir():
        d = d / "journal"
    return sorted(d.glob("*.jsonl"))


def read_records(path: Path, chunk_size: int = 1 << 22) -> Iterator[dict[str, Any] | None]:
    """Records of one journal in order, header included; yields None for a torn last line."""
    for chunk in read_lines(path, chunk_size):
        if chunk.torn:
            yield torn_record(chunk.lines[0])
            continue
        for n, line in chunk.numbered():
            yield parse_line(path, n, line)


@dataclass(frozen=True)
class Lines:
    """Whole lines of a journal, without their newlines: line `first` and those after it
    (`numbers`, when empty lines were left out), or the last line, `torn`: no newline
    ended it."""

    first: int
    lines: list[bytes]
    numbers: list[int] | None = None
    torn: bool = False

    def numbered(self) -> Iterator[tuple[int, bytes]]:
        return zip(self.numbers or itertools.count(self.first), self.lines, strict=False)


def read_lines(path: Path, chunk_size: int = 1 << 22) -> Iterator[Lines]:
    """One journal as chunks of whole lines, read `chunk_size` bytes at a time, so memory
    stays flat however long the journal is."""
    first = 1
    rest = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            body = rest + chunk
            end = body.rfind(b"\n")
            if end < 0:
                rest = body
                continue
            rest = body[end + 1 :]
            lines = body[:end].split(b"\n")
            if body.find(b"\n\n", 0, end + 1) >= 0 or not lines[0]:  # empty lines: left out
                numbered = [(n, line) for n, line in enumerate(lines, first) if line]
                yield Lines(first, [line for _, line in numbered], [n for n, _ in numbered])
            else:
                yield Lines(first, lines)
            first += len(lines)
    if rest:
        yield Lines(first, [rest], torn=True)


def parse_line(path: Path, n: int, line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        raise JournalError(f"{path}: line {n}: not a JSON record") from None


def torn_record(line: bytes) -> dict[str, Any] | None:
    """The last line of a journal, which no newline ended: the writer died mid-line. A
    complete record that only lost its newline is still a record; else None."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def check_header(path: Path, record: dict[str, Any] | None) -> None:
    if not isinstance(record, dict) or record.get("ev") != "header":
        raise JournalError(f"{path}: line 1: expected a header record")
    if record.get("format") != FORMAT:
        raise JournalError(f"{path}: line 1: format {record.get('format')!r} is not {FORMAT!r}")
