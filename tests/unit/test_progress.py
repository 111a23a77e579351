"""A run's quiet is counted from its last journal record, not from the poll that found it
(progress.JournalTail)."""

from __future__ import annotations

import time
from pathlib import Path

from mqcompare.progress import JournalTail


def _deliver(path: Path, t: float) -> None:
    with open(path, "ab") as fh:
        fh.write(
            b'{"ev":"deliver","p":0,"s":1,"t":%.6f,"sent":%.6f,"redelivered":false}\n' % (t, t)
        )


def test_the_quiet_starts_at_the_last_record(tmp_path: Path) -> None:
    tail = JournalTail(tmp_path)
    time.sleep(0.6)
    _deliver(tmp_path / "consumer-0.jsonl", time.time() - 0.5)  # written 0.1 s in
    tail.poll()
    assert tail.counts["deliver"] == 1
    assert 0.5 <= tail.quiet_for() < 5.0


def test_an_older_file_does_not_move_the_quiet_back(tmp_path: Path) -> None:
    tail = JournalTail(tmp_path)
    _deliver(tmp_path / "consumer-0.jsonl", time.time())
    _deliver(tmp_path / "consumer-1.jsonl", time.time() - 3.0)
    tail.poll()
    assert tail.quiet_for() < 1.0


def test_a_line_without_a_time_counts_from_the_poll(tmp_path: Path) -> None:
    tail = JournalTail(tmp_path)
    (tmp_path / "producer.jsonl").write_bytes(b'{"ev":"info","p":0,"s":1}\n')
    time.sleep(0.05)
    tail.poll()
    assert tail.quiet_for() < 0.05
