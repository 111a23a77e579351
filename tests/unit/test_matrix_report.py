"""The matrix's reports from a results document alone: Markdown, CSV, self-contained HTML,
and `mqcompare report DIR` rebuilding them byte for byte."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mqcompare.matrix.preset import load_preset
from mqcompare.matrix.report import html, markdown, results_csv, write_reports
from mqcompare.matrix.summary import summarize
from tests.results import document, result
from tests.unit.test_cli import mqcompare

PRESET = """
name = "two"
title = "Two experiments"
[defaults]
producers = 1
messages = 100

[[experiments]]
id = "1"
title = "Sharing"
question = "Does sharing lose messages?"
protocol = "Threads share one connection."
[[experiments.claims]]
id = "loses"
says = "Sharing loses messages."
source = "the write-up"
expect = ["loss"]
why = "Frames interleave."
refs = ["https://pika.readthedocs.io/en/stable/faq.html"]
[[experiments.cells]]
stacks = ["pika", "kombu"]
claim = "loses"

[[experiments]]
id = "2"
title = "Cost"
question = "What do confirms cost?"
protocol = "No faults."
[[experiments.claims]]
id = "cost"
says = "Confirms are slower."
source = "docs"
expect = ["slower-than:no-confirms"]
[[experiments.cells]]
stack = "pika"
[[experiments.cells]]
stack = "pika"
confirms = true
claim = "cost"
"""


@pytest.fixture
def doc(tmp_path: Path) -> dict:
    path = tmp_path / "two.toml"
    path.write_text(PRESET)
    preset = load_preset(str(path))
    results = [
        result("pika", cell="1.01", lost=12, errors={"StreamLostError": 2}),
        result("pika", cell="1.01", lost=40, errors={"StreamLostError": 1}, repeat=2),
        result("kombu", mode="pool", cell="1.02"),
        result("kombu", mode="pool", cell="1.02", repeat=2),
        result("pika", cell="2.01", rate=9000.0),
        result("pika", cell="2.02", rate=3000.0, confirms=True, duplicated=2),
    ]
    return document(preset, results, repeat=2)


def test_markdown_has_questions_tables_spread_and_verdicts(doc: dict) -> None:
    md = markdown(doc)
    assert "## 1. Sharing" in md and "Does sharing lose messages?" in md
    assert "Threads share one connection." in md
    assert "in 2 of 2 runs: 12-40 (12-40 %)" in md  # the spread over repeats
    assert "0 in 2 runs" in md
    assert "1.01 pika connection-per-thread: **held**" in md
    assert "1.02 kombu pool: **refuted**" in md
    assert "2.02 pika connection-per-thread: **held**" in md and "ratio 0.33" in md
    assert "<https://pika.readthedocs.io/en/stable/faq.html>" in md


def test_csv_has_one_row_per_run(doc: dict) -> None:
    rows = list(csv.DictReader(io.StringIO(results_csv(doc))))
    assert len(rows) == 6
    assert rows[1]["cell"] == "1.01" and rows[1]["lost"] == "40" and rows[1]["repeat"] == "2"
    assert rows[0]["errors"] == "StreamLostError=2"


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_one_file_that_fetches_nothing(doc: dict) -> None:
    page = html(doc)
    parser = Elements()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert tags.count("table") == 3  # the claims overview and one per experiment
    assert tags.count("svg") >= 3  # lost/duplicated twice, publish rate at least once
    for tag, attrs in parser.tags:
        assert tag not in ("script", "link", "img", "iframe", "object"), tag
        assert "src" not in attrs, (tag, attrs)
        if tag != "a":  # links are for the reader to follow; xmlns values are names
            fetchable = [v for k, v in attrs.items() if not k.startswith("xmlns")]
            assert not any(v and "://" in v for v in fetchable), (tag, attrs)
    assert not re.search(r"url\(\s*['\"]?(?!#)", page), "url() other than an in-page #id"
    assert "@import" not in page
    assert "refuted" in page and "held" in page


def test_an_interrupted_matrix_says_so(doc: dict) -> None:
    doc["interrupted"] = True
    assert "Interrupted" in markdown(doc)
    assert "Interrupted" in html(doc)


def test_report_command_rebuilds_the_same_files(doc: dict, tmp_path: Path) -> None:
    out = tmp_path / "matrix"
    out.mkdir()
    (out / "results.json").write_text(json.dumps(doc))
    first = {p.name: p.read_text() for p in write_reports(doc, out)}
    for name in first:
        (out / name).unlink()
    done = mqcompare("report", str(out), clients=False)  # with no client library at all
    assert done.returncode == 0, done.stderr
    assert "The answer: Two experiments" in done.stdout and "Claims: 2 held" in done.stdout
    for name, text in first.items():
        assert (out / name).read_text() == text, name


def test_report_refuses_a_foreign_results_json(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"format": "something/9"}))
    done = subprocess.run(
        [sys.executable, "-m", "mqcompare.cli", "report", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "results.json" in done.stderr


def test_slower_than_default_compares_with_the_stacks_own_mode(tmp_path: Path) -> None:
    from mqcompare.matrix.preset import load_preset
    from mqcompare.matrix.summary import summarize

    path = tmp_path / "lock.toml"
    path.write_text(
        PRESET.split('[[experiments]]\nid = "2"')[0].replace('claim = "loses"', "")
        + '[[experiments.claims]]\nid = "lock-cost"\nsays = "s"\nsource = "t"\n'
        'expect = ["slower-than:default"]\n'
        '[[experiments.cells]]\nstacks = ["pika", "kombu"]\nmode = "shared-locked"\n'
        'claim = "lock-cost"\n'
    )
    preset = load_preset(str(path))
    ids = {(c.stack, c.mode): c.id for c in preset.cells}
    results = [
        result("pika", cell=ids["pika", "connection-per-thread"], rate=4000.0),
        result("kombu", mode="pool", cell=ids["kombu", "pool"], rate=3000.0),
        result("pika", mode="shared-locked", cell=ids["pika", "shared-locked"], rate=1400.0),
        result("kombu", mode="shared-locked", cell=ids["kombu", "shared-locked"], rate=3100.0),
    ]
    verdicts = {
        s.cell.stack: s.judgements[0]
        for s in summarize(document(preset, results), preset)
        if s.judgements
    }
    assert (
        verdicts["pika"].verdict == "held"
        and "connection-per-thread" in verdicts["pika"].evidence[-1]
    )
    assert verdicts["kombu"].verdict == "refuted" and "for pool" in verdicts["kombu"].evidence[-1]


SWEEP = """
name = "sweep"
title = "Rate sweep"
[defaults]
producers = 1
faults = ["restart@1s:1s"]

[[experiments]]
id = "5"
title = "Loss against rate"
question = "Does loss grow with rate?"
protocol = "One restart at three rates."
[[experiments.claims]]
id = "grows"
says = "Loss grows with rate."
source = "test"
expect = ["loss-grows-with-rate"]
[[experiments.cells]]
stack = "pika"
rate = 30
messages = 150
[[experiments.cells]]
stack = "pika"
rate = 300
messages = 1500
[[experiments.cells]]
stack = "pika"
messages = 6000
claim = "grows"
"""


def restarted(cell: str, lost: int, total: int, hit: bool = True, **kw: object) -> dict:
    fault = {"kind": "restart", "at_s": 1.0, "begin_s": 1.0, "down_s": 1.05, "hit": hit}
    if not hit:
        fault["why"] = "missed publishing: down at 1.05 s, publishing ended at 0.90 s"
    r = result("pika", cell=cell, total=total, lost=lost, faults=[fault], **kw)  # type: ignore[arg-type]
    r["spec"]["faults"] = ["restart@1s:1s"]
    return r


def test_reports_leave_out_runs_whose_fault_missed_and_chart_loss_against_rate(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    preset = load_preset(str(path))
    results = [
        restarted("5.01", 0, 150),
        restarted("5.02", 0, 1500, hit=False),  # its only run missed: rate 300 not tested
        restarted("5.03", 600, 6000),
        restarted("5.03", 0, 6000, hit=False, repeat=2),
    ]
    doc = document(preset, results, repeat=2)
    md = markdown(doc)
    assert "## Faults that missed" in md
    assert "5.02 pika connection-per-thread: in 1 of 1 runs: restart@1s missed" in md
    assert "restart@1s:1s down 1.05-1.05 s (missed in 1 of 2 runs)" in md  # faults column
    # the second unpaced run missed: only the first (10 % lost) is judged
    assert (
        "median lost by offered rate: 0.0 % at 30/s, 10 % at unpaced; "
        "not tested at 300/s: fault missed"
    ) in md
    assert "5.03 pika connection-per-thread: **held**" in md
    page = html(doc)
    assert "silent loss against publish rate" in page  # the chart's title, as text
    assert "Faults that missed" in page
    rows = list(csv.DictReader(io.StringIO(results_csv(doc))))
    assert [row["faults_missed"] for row in rows] == [
        "",
        "restart@1s missed",
        "",
        "restart@1s missed",
    ]


def test_the_terminal_ends_with_the_grid_in_40_lines_of_100_columns(doc: dict) -> None:
    """After the last cell: the grid (a row per question, a column per stack), the counts
    and where the report is; nothing wider than 100 columns, nothing folded."""
    from rich.console import Console

    from mqcompare.matrix.terminal import print_summary

    buf = io.StringIO()
    print_summary(Console(file=buf, width=160, color_system=None), doc, Path("runs/x"))
    lines = buf.getvalue().splitlines()
    assert len(lines) <= 40 and max(len(line) for line in lines) <= 100
    header = next(line for line in lines if "question" in line)
    assert header.split()[1:] == ["pika", "kombu"]
    assert any(line.startswith("Claims: ") for line in lines)
    assert lines[-1].startswith("Open runs/x/report.html")


def test_a_queue_left_undrained_is_said_where_its_loss_is_counted(tmp_path: Path) -> None:
    """A consumer that stopped consuming leaves messages queued; they count as lost (the
    words are fixed), and every report says the queue did not drain."""
    from rich.console import Console

    from mqcompare.report import print_result

    stuck = result(
        "celery",
        mode="shared-app",
        cell="1.01",
        lost=7,
        drain={"complete": False, "left_in_queue": 7},
    )
    buf = io.StringIO()
    print_result(stuck, Console(file=buf, width=120, color_system=None))
    assert "did not drain" in buf.getvalue() and "7 messages were still queued" in buf.getvalue()
    held = result("pika", lost=2, drain={"complete": False, "left_in_queue": 0, "unacked": 2})
    buf = io.StringIO()
    print_result(held, Console(file=buf, width=200, color_system=None))
    assert "0 messages were still queued and 2 held unacknowledged by a consumer" in (
        buf.getvalue()
    )
    # a consumer that stopped taking messages is told from one too slow for the timeout
    for idle, said in ((0.4, "was still taking messages"), (12.0, "had taken nothing for 12.0 s")):
        drain = {"complete": False, "left_in_queue": 5, "idle_s": idle}
        slow = result("celery", lost=5, drain=drain)
        buf = io.StringIO()
        print_result(slow, Console(file=buf, width=300, color_system=None))
        assert f"5 messages were still queued (the consumer {said})" in buf.getvalue()
    path = tmp_path / "p.toml"
    path.write_text(PRESET)
    doc = document(load_preset(str(path)), [stuck])
    assert "7 lost silently, not drained" in markdown(doc)


WINDOWS = """
name = "windows"
title = "Confirm windows"
[defaults]
producers = 1
messages = 100

[[experiments]]
id = "4b"
title = "What safety costs, by confirm strategy"
question = "Is waiting for each confirm what costs?"
protocol = "No faults; windows 1 and 100."
[[experiments.claims]]
id = "faster"
says = "A window is faster."
source = "test"
expect = ["faster-than:window-1"]
[[experiments.cells]]
stacks = ["pika", "aio-pika"]
modes = ["asyncio-adapter", "channel-per-producer"]
[[experiments.cells]]
stacks = ["pika", "aio-pika"]
modes = ["asyncio-adapter", "channel-per-producer"]
confirms = true
[[experiments.cells]]
stacks = ["pika", "aio-pika"]
modes = ["asyncio-adapter", "channel-per-producer"]
confirms = true
confirm_window = 100
claim = "faster"
"""


def test_faster_than_a_window_compares_with_the_same_cell_at_that_window(
    tmp_path: Path,
) -> None:
    path = tmp_path / "windows.toml"
    path.write_text(WINDOWS)
    preset = load_preset(str(path))
    cells = {(c.stack, c.confirms, c.options.get("confirm_window", 1)): c for c in preset.cells}
    rates = {
        ("pika", False, 1): 9000.0,
        ("pika", True, 1): 3000.0,
        ("pika", True, 100): 12000.0,  # much faster: held
        ("aio-pika", False, 1): 5000.0,
        ("aio-pika", True, 1): 4000.0,
        ("aio-pika", True, 100): 4100.0,  # within the noise margin: refuted
    }
    results = []
    for key, rate in rates.items():
        c = cells[key]
        r = result(key[0], mode=c.mode, cell=c.id, rate=rate, confirms=key[1])
        r["spec"]["stack_options"] = dict(c.options)
        results.append(r)
    doc = document(preset, results)
    verdicts = {s.cell.stack: s.judgements[0] for s in summarize(doc, preset) if s.judgements}
    assert verdicts["pika"].verdict == "held"
    assert "3,000/s for window-1" in verdicts["pika"].evidence[-1]
    assert verdicts["aio-pika"].verdict == "refuted"
    page = html(doc)
    assert "publish rate and harm against the confirm window" in page
