"""What the checker reads out of journals: columns of message ids and times, arrays of
machine numbers rather than a Python object per record (3 M records in well under 300 MB),
and the rare records (errors, faults, poison) as they came.

`History.read` is the hot loop of `mqcompare check`: a line parsed, a few appends, the
record dropped; nothing judged until every journal is read (checker.py judges the
columns)."""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Any

import orjson

from mqcompare.journal import (
    JournalError,
    Lines,
    check_header,
    parse_line,
    read_lines,
    torn_record,
)

# The latest attempt of an id that raised: failed, or an unknown outcome (info); another
# invoke makes it pending again.
PENDING, FAILED, INFO = 0, 1, 2

Id = tuple[int, int]


class _Unknown(Exception):
    """A record whose event this format does not have."""


class History:
    """Every journal of a run, folded into columns (the record's p, s, t; see
    docs/architecture.md, "Journal") and counters."""

    def __init__(self) -> None:
        self.invoke_p, self.invoke_s = array("q"), array("q")
        self.ok_p, self.ok_s, self.ok_times = array("q"), array("q"), array("d")
        self.deliver_p, self.deliver_s = array("q"), array("q")
        self.deliver_t, self.deliver_sent = array("d"), array("d")
        self.redelivered = 0
        # ids whose attempt raised, with the latest attempt's state (few: a dict is fine)
        self.raised_ids: dict[Id, int] = {}
        self.raised_times = array("d")  # what producers did while blocked
        self.raised_by: dict[int, list[float]] = {}  # each producer's errors, in time
        self.errors: dict[str, int] = {}
        self.faults: list[dict[str, Any]] = []
        self.torn = 0
        self.first_invoke = float("inf")
        self.last_raised = float("-inf")
        self.first_t = float("inf")
        self.last_t = float("-inf")
        self.run_ids: set[str] = set()
        # poison messages: rejects per id and the highest delivery count the broker gave
        # one; what the run found in its dead-letter queue, with the broker's reason
        self.rejects: dict[Id, int] = {}
        self.delivery_count_max: int | None = None
        self.dead: dict[Id, str] = {}
        self.left: set[Id] = set()

    def read(self, path: Path) -> None:
        """Fold one journal into the history."""
        chunks = read_lines(path)
        first = next(chunks, None)
        if first is None:
            return  # the writer died before its header: nothing was journaled
        header = torn_record(first.lines[0]) if first.torn else _header(path, first)
        check_header(path, header)
        self.run_ids.add(str(header.get("run_id", "")))  # type: ignore[union-attr]
        if not first.torn:
            records = _after_header(first)
            self._fold(path, records)
            if records.lines:  # the first record's time: the run's start, without invokes
                self.first_t = min(self.first_t, orjson.loads(records.lines[0])["t"])
        for chunk in chunks:
            if chunk.torn and torn_record(chunk.lines[0]) is None:
                self.torn += 1
            else:
                self._fold(path, chunk)

    def _fold(self, path: Path, chunk: Lines) -> None:
        """One chunk's records into the columns, each parsed and dropped in turn (a
        dict at a time stays in the CPU's cache; a batch of them would not)."""
        invoke_p, invoke_s = self.invoke_p.append, self.invoke_s.append
        ok_p, ok_s, ok_t = self.ok_p.append, self.ok_s.append, self.ok_times.append
        deliver_p, deliver_s = self.deliver_p.append, self.deliver_s.append
        deliver_t, deliver_sent = self.deliver_t.append, self.deliver_sent.append
        raised_ids = self.raised_ids
        first_invoke = self.first_invoke
        redelivered = 0
        rec: Any = None
        try:
            for rec in map(orjson.loads, chunk.lines):
                ev = rec["ev"]
                if ev == "deliver":
                    deliver_p(rec["p"])
                    deliver_s(rec["s"])
                    deliver_t(rec["t"])
                    deliver_sent(rec["sent"])
                    if rec["redelivered"]:
                        redelivered += 1
                elif ev == "ok":
                    ok_p(rec["p"])
                    ok_s(rec["s"])
                    ok_t(rec["t"])
                elif ev == "invoke":
                    p, s, t = rec["p"], rec["s"], rec["t"]
                    invoke_p(p)
                    invoke_s(s)
                    if t < first_invoke:
                        first_invoke = t
                    if raised_ids and (p, s) in raised_ids:
                        raised_ids[p, s] = PENDING  # tried again
                else:
                    self._rare(ev, rec)
        except orjson.JSONDecodeError:
            for n, line in chunk.numbered():
                parse_line(path, n, line)  # raises, naming the line
        except (KeyError, TypeError, OverflowError, _Unknown) as exc:
            raise _bad(path, chunk, rec, exc) from None
        self.first_invoke = first_invoke
        self.redelivered += redelivered
        if chunk.lines:
            self.last_t = max(self.last_t, orjson.loads(chunk.lines[-1])["t"])

    def _rare(self, ev: str, rec: dict[str, Any]) -> None:
        """A record of the few: an error, a fault's phase, a poison message's fate."""
        t = rec["t"]
        if ev == "fail" or ev == "info":
            key = (rec["p"], rec["s"])
            self.raised_ids[key] = FAILED if ev == "fail" else INFO
            err = str(rec["err"])
            self.errors[err] = self.errors.get(err, 0) + 1
            self.raised_times.append(t)
            self.raised_by.setdefault(rec["p"], []).append(t)
            self.last_raised = max(self.last_raised, t)
        elif ev == "fault":
            self.faults.append(rec | {"kind": str(rec["kind"]), "phase": str(rec["phase"])})
        elif ev == "reject" or ev == "dead" or ev == "left":
            self._poison(ev, rec)
        else:
            raise _Unknown(ev)

    def _poison(self, ev: str, rec: dict[str, Any]) -> None:
        key = (rec["p"], rec["s"])
        count = rec.get("count")
        if isinstance(count, int) and count > (self.delivery_count_max or -1):
            self.delivery_count_max = count
        if ev == "reject":
            self.rejects[key] = self.rejects.get(key, 0) + 1
        elif ev == "dead":
            self.dead[key] = str(rec["reason"])
        else:
            self.left.add(key)


def _header(path: Path, chunk: Lines) -> Any:
    return parse_line(path, (chunk.numbers or [chunk.first])[0], chunk.lines[0])


def _after_header(chunk: Lines) -> Lines:
    if chunk.numbers is None:
        return Lines(chunk.first + 1, chunk.lines[1:])
    return Lines(chunk.first, chunk.lines[1:], chunk.numbers[1:])


def _bad(path: Path, chunk: Lines, rec: Any, exc: Exception) -> JournalError:
    """The error naming the file and line of the record `rec` of `chunk`."""
    at = next((n for n, line in chunk.numbered() if orjson.loads(line) == rec), chunk.first)
    if isinstance(exc, _Unknown):
        return JournalError(f"{path}: line {at}: unknown event {exc.args[0]!r}")
    what = rec.get("ev", "record") if isinstance(rec, dict) else "record"
    return JournalError(f"{path}: line {at}: bad {what!r} record (missing or wrong field {exc})")
