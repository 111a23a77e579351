"""Journals survive SIGKILL of their writer: at most the line being written is torn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from mqcompare.checker import check_dirs
from mqcompare.journal import JournalWriter, read_records
from mqcompare.observe import wait_for

WRITER = """
import sys, itertools
from mqcompare.journal import JournalWriter
j = JournalWriter(sys.argv[1], "producer", "kill-test")
print("ready", flush=True)
for s in itertools.count():
    j.invoke(0, s)
    j.ok(0, s)
"""


def test_sigkilled_writer_loses_at_most_one_line(tmp_path: Path) -> None:
    path = tmp_path / "journal" / "producer.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    # killed mid-stream, once it has written plenty: a condition, not a guess of its speed
    assert wait_for(lambda: path.stat().st_size > 200_000, 30.0) is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    records = list(read_records(path))
    assert records[0]["ev"] == "header"
    complete = [r for r in records[1:] if r is not None]
    assert len(complete) > 1000
    assert records[1:].count(None) <= 1
    result = check_dirs([tmp_path])
    # every ok has its invoke: only the very last invoke may lack its ok
    assert result["counts"]["attempted"] - result["counts"]["acknowledged"] <= 1


def test_threads_never_interleave_lines(tmp_path: Path) -> None:
    j = JournalWriter(tmp_path / "p.jsonl", "producer", "r")

    def write(p: int) -> None:
        for s in range(2000):
            j.invoke(p, s)
            j.ok(p, s)

    threads = [threading.Thread(target=write, args=(p,)) for p in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    j.close()
    counts = check_dirs([tmp_path])["counts"]
    assert counts["attempted"] == counts["acknowledged"] == 16000
    assert counts["torn_lines"] == 0


def test_chunks_cut_at_any_byte_read_the_same_records_and_name_the_same_line(
    tmp_path: Path,
) -> None:
    """A chunk ends at the last whole line it read; an empty line is left out but
    counted, and a broken line is named by its number whichever chunk it falls in."""
    from mqcompare.journal import JournalError

    path = tmp_path / "producer.jsonl"
    with JournalWriter(path, "producer", "chunks") as j:
        for s in range(40):
            j.invoke(s % 3, s)
            j.ok(s % 3, s)
    whole = list(read_records(path))
    assert len(whole) == 81
    for size in (1, 7, 64, 1000, 1 << 22):
        assert list(read_records(path, size)) == whole, size
    lines = path.read_bytes().split(b"\n")
    lines[10] = b""
    lines[30] = b"{broken"
    path.write_bytes(b"\n".join(lines))
    for size in (64, 1 << 22):
        try:
            list(read_records(path, size))
        except JournalError as exc:
            assert "line 31: not a JSON record" in str(exc), size
        else:
            raise AssertionError("a broken line went unnoticed")
        try:
            check_dirs([tmp_path])
        except JournalError as exc:
            assert "line 31: not a JSON record" in str(exc), size
        else:
            raise AssertionError("the checker read past a broken line")
