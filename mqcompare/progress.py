"""Live counts of a run, read from the journals as they grow (never from memory)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

_EVENTS = (b"invoke", b"ok", b"fail", b"info", b"deliver")


class JournalTail:
    """Counts events in a journal folder incrementally, by whole lines only."""

    def __init__(self, journal_dir: Path) -> None:
        self.dir = journal_dir
        self.offsets: dict[Path, int] = {}
        self.counts = dict.fromkeys(("invoke", "ok", "fail", "info", "deliver"), 0)
        self.rejects = 0  # poison messages failed (`reject`): not a change, but counted
        self.last_reject = time.monotonic()
        self.first_invoke: float | None = None
        self.last_change = time.monotonic()
        self.last_producer_change = time.monotonic()

    def poll(self) -> dict[str, int]:
        for path in sorted(self.dir.glob("*.jsonl")):
            offset = self.offsets.get(path, 0)
            try:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except FileNotFoundError:
                continue
            end = data.rfind(b"\n") + 1
            if not end:
                continue
            data = data[:end]
            self.offsets[path] = offset + end
            changed = False
            for ev in _EVENTS:
                n = data.count(b'"ev":"' + ev + b'"')
                if n:
                    self.counts[ev.decode()] += n
                    changed = True
            rejects = data.count(b'"ev":"reject"')
            if rejects:
                self.rejects += rejects
                self.last_reject = time.monotonic()
            if changed:
                self.last_change = max(self.last_change, _written_at(data))
                if path.name.startswith("producer"):
                    self.last_producer_change = self.last_change
            if self.first_invoke is None and b'"ev":"invoke"' in data:
                self._find_first_invoke(data)
        return self.counts

    def _find_first_invoke(self, data: bytes) -> None:
        i = data.find(b'"ev":"invoke"')
        start = data.rfind(b"\n", 0, i) + 1
        stop = data.find(b"\n", i)
        self.first_invoke = float(orjson.loads(data[start:stop])["t"])

    def quiet_for(self) -> float:
        return time.monotonic() - self.last_change

    def producers_quiet_for(self) -> float:
        return time.monotonic() - self.last_producer_change


def _written_at(data: bytes) -> float:
    """When the last of these journal lines was written, on the monotonic clock (from its
    own `t`; now, for a line without one): a quiet is counted from the last record, not
    from the poll that found it, up to a poll later."""
    now = time.monotonic()
    last = data[data.rfind(b"\n", 0, len(data) - 1) + 1 :]
    try:
        t = float(orjson.loads(last)["t"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return now
    return min(now, now - (time.time() - t))
