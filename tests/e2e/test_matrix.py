"""`mqcompare matrix` end to end, as a user runs it: a small preset of their own on a real
broker and real workers, the reports it writes, the HTML report in a real browser, and
Ctrl-C in the middle."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from PIL import Image

from mqcompare.brokers.node import LocalNode
from mqcompare.brokers.ports import port_open
from mqcompare.observe import wait_for
from mqcompare.stacks import STACKS, load_stack

# a cell that names no stack runs on these (amqp10 needs RabbitMQ 4: cells of its own)
EVERY = [s for s in STACKS if not load_stack(s).min_rabbitmq]

pytestmark = [pytest.mark.broker, pytest.mark.slow]

TINY = """
name = "tiny"
title = "Every stack, tiny sizes"
[defaults]
producers = 2
messages = 50
stall_timeout = "10s"

[[experiments]]
id = "1"
title = "Nothing goes wrong"
question = "Does each stack deliver everything without faults?"
protocol = "2 producers x 50 messages, no faults."

[[experiments.claims]]
id = "complete"
says = "Every message arrives."
source = "test"
expect = ["no-loss", "complete"]

[[experiments.claims]]
id = "confirms-cost"
says = "Confirms are slower."
source = "test"
expect = ["slower-than:no-confirms"]

[[experiments.cells]]
claim = "complete"

[[experiments.cells]]
stack = "pika"
confirms = true
claims = ["complete", "confirms-cost"]
"""
# the flags the issue names for a headless Chromium that fetches nothing on its own
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PIKA_BLUE = (0x3B, 0x6F, 0xB6)  # charts.STACK_COLORS["pika"]


def matrix_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "mqcompare.cli", "matrix", *args]


@pytest.fixture(scope="module")
def matrix_dir(session_node: LocalNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    session_node.heal()
    base = tmp_path_factory.mktemp("matrix")
    preset = base / "tiny.toml"
    preset.write_text(TINY)
    out = base / "out"
    done = subprocess.run(
        matrix_cmd(
            "--preset", str(preset), "--repeat", "2", "--broker", "local", "--out", str(out)
        ),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (out / "stdout.txt").write_text(done.stdout)
    yield out


def test_matrix_runs_every_cell_and_writes_every_output(matrix_dir: Path) -> None:
    doc = json.loads((matrix_dir / "results.json").read_text())
    assert doc["complete"] and not doc["interrupted"] and not doc["failed_runs"]
    cells = [(r["cell"], r["spec"]["stack"], r["repeat"]) for r in doc["results"]]
    # the first cell names no stack: one cell per stack, in the table's order; then pika's
    planned = [*EVERY, "pika"]
    assert sorted(cells) == sorted(
        (f"1.{i:02d}", stack, k) for i, stack in enumerate(planned, 1) for k in (1, 2)
    )
    for r in doc["results"]:
        assert r["counts"]["unique"] == 100 and r["verdict"]["valid"], r["cell"]
    rows = list(csv.DictReader((matrix_dir / "results.csv").open()))
    assert len(rows) == 2 * len(planned) and {row["stack"] for row in rows} == set(EVERY)
    md = (matrix_dir / "report.md").read_text()
    assert "1.03 celery shared-app: **held**" in md
    assert "0 in 2 runs" in md  # the spread column over --repeat 2
    stdout = (matrix_dir / "stdout.txt").read_text()
    # runs back to back (one ends while the next boots): still recorded and shown in the
    # order they ran, each run's line followed by its own outcome before the next line
    assert cells == [(f"1.{i:02d}", s, k) for i, s in enumerate(planned, 1) for k in (1, 2)]
    shown = [ln for ln in stdout.splitlines() if re.match(r"(cell \d|  1\.\d\d: )", ln)]
    assert len(shown) == 2 * len(cells), shown
    for line, outcome in zip(shown[::2], shown[1::2], strict=True):
        cell = re.search(r"\): (\S+) ", line)
        assert cell and outcome.startswith(f"  {cell.group(1)}: "), shown
    n = len(planned)
    assert f"cell {n} of {n}, run 2 of 2 (" in stdout and " left): " in stdout
    ending = stdout[stdout.index("The answer: Every stack, tiny sizes") :].splitlines()
    assert len(ending) <= 40 and ending[-1].startswith(f"Open {matrix_dir / 'report.html'}")
    assert any(line.startswith("1 ") and "ok" in line for line in ending), ending


def test_every_result_records_what_it_ran_on(matrix_dir: Path) -> None:
    """The broker's version as the broker says it, the host, and each library's version,
    in result.json, results.json and results.csv; claims in claims.csv and results.json."""
    doc = json.loads((matrix_dir / "results.json").read_text())
    installed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "rabbitmq-server"], capture_output=True, text=True
    ).stdout
    for r in doc["results"]:
        env = r["environment"]
        assert env["rabbitmq"] and installed.startswith(env["rabbitmq"]), (env, installed)
        assert env["erlang"] and env["cpus"] >= 1 and env["python"].startswith("CPython")
        assert r["spec"]["stack"] in STACKS and env["libraries"], env
    assert doc["environment"]["rabbitmq"] == doc["results"][0]["environment"]["rabbitmq"]
    rows = list(csv.DictReader((matrix_dir / "results.csv").open()))
    assert {row["rabbitmq"] for row in rows} == {doc["environment"]["rabbitmq"]}
    assert all(row["pika_version"] for row in rows if row["stack"] == "pika")
    claims = list(csv.DictReader((matrix_dir / "claims.csv").open()))
    assert {c["claim"] for c in claims} == {"complete", "confirms-cost"}
    assert len(claims) == len(doc["claims"]) == len(EVERY) + 2


def test_report_rebuilds_the_matrix_reports_from_results_alone(
    matrix_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(matrix_dir / "results.json", copy / "results.json")  # no run directories
    done = subprocess.run(
        [sys.executable, "-m", "mqcompare.cli", "report", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for name in ("report.md", "report.html", "results.csv", "claims.csv"):
        assert (copy / name).read_text() == (matrix_dir / name).read_text(), name


def browse(report: Path, profile: Path, shot: Path) -> dict[str, Any]:
    """Open the report in the system's Chromium; what rendered, what was fetched."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "chromium is not installed (.ci/run installs it)"
    seen: dict[str, Any] = {"requests": []}
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile),  # a fresh --user-data-dir
            executable_path=chromium,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1366, "height": 900},  # a laptop screen
        )
        try:
            page = ctx.new_page()
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.goto(report.as_uri(), wait_until="load")
            seen["tables"] = page.eval_on_selector_all(
                "table",
                "els => els.map(e => { const r = e.getBoundingClientRect();"
                " return {w: r.width, h: r.height, rows: e.rows.length}; })",
            )
            seen["charts"] = page.eval_on_selector_all(
                "svg.chart",
                "els => els.map(e => { const r = e.getBoundingClientRect();"
                " return {w: r.width, h: r.height, bars: e.querySelectorAll('path').length}; })",
            )
            seen["first_section"] = page.eval_on_selector("section", "e => e.id")
            seen["grid_links"] = page.eval_on_selector_all(
                "#answer table.grid td a", "els => els.map(e => e.getAttribute('href'))"
            )
            seen["landed"] = []
            for href in seen["grid_links"]:
                page.click(f'#answer table.grid td a[href="{href}"]')
                seen["landed"].append(
                    page.evaluate(
                        "h => { const e = document.getElementById(h.slice(1));"
                        " const r = e ? e.getBoundingClientRect() : null;"
                        " return !!r && e.tagName === 'TR' && r.bottom > 0"
                        " && r.top < window.innerHeight && location.hash === h; }",
                        href,
                    )
                )
            page.evaluate("window.scrollTo(0, 0)")
            seen["font"] = page.evaluate("getComputedStyle(document.body).fontFamily")
            seen["badge"] = page.eval_on_selector(
                ".badge.held", "e => getComputedStyle(e).backgroundColor"
            )
            seen["overflow"] = page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth"
            )
            page.screenshot(path=str(shot), full_page=True)
            page.emulate_media(media="print")
            seen["pdf"] = page.pdf(format="A4")
        finally:
            ctx.close()
    return seen


def test_html_report_renders_in_chromium_without_network(matrix_dir: Path, tmp_path: Path) -> None:
    report = matrix_dir / "report.html"
    shot = tmp_path / "report.png"
    seen = browse(report, tmp_path / "profile", shot)
    assert seen["requests"] == [report.as_uri()], "the page fetched something besides itself"
    # the answer grid first, each of its links landing on its cell's row of evidence
    assert seen["first_section"] == "answer"
    assert len(seen["grid_links"]) == len(EVERY) + 1 and all(seen["landed"]), seen["landed"]
    # the grid and the experiment's table, each laid out with its rows
    assert len(seen["tables"]) == 2
    assert all(t["w"] > 600 and t["h"] > 60 and t["rows"] >= 4 for t in seen["tables"])
    # lost/duplicated and publish rate, drawn at a readable size with their bars
    assert len(seen["charts"]) == 2
    assert all(c["w"] > 600 and c["h"] > 100 and c["bars"] > 10 for c in seen["charts"])
    # the stylesheet applied (an escaped one falls back to the browser's serif default)
    assert "sans-serif" in seen["font"] and seen["badge"] == "rgb(29, 35, 43)"
    assert seen["overflow"] <= 0, "the page scrolls sideways on a 1366 px screen"
    assert seen["pdf"][:5] == b"%PDF-" and len(seen["pdf"]) > 10_000
    # the screenshot shows ink, and the pika bars in pika's colour
    image = Image.open(shot).convert("RGB")
    assert image.width == 1366 and image.height > 1200
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50
    near_blue = sum(
        n for n, rgb in colours if all(abs(a - b) < 12 for a, b in zip(rgb, PIKA_BLUE, strict=True))
    )
    assert near_blue > 200, "no pika-coloured bars painted"
    shutil.copy(shot, matrix_dir / "report.png")  # kept beside the report for a human look


def _node_processes(node_name: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(node_name in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _processes_mentioning(path: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(str(path) in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return [p for p in found if p.pid != os.getpid()]


def test_ctrl_c_reports_the_finished_cells_and_stops_its_own_node(tmp_path: Path) -> None:
    # a state directory of its own: no kept node to find, so the matrix starts a node
    env = dict(os.environ, MQCOMPARE_STATE_DIR=str(tmp_path / "state"))
    env.pop("MQCOMPARE_BROKER_URL", None)
    preset = tmp_path / "slow.toml"
    preset.write_text(
        TINY.replace(
            '[[experiments.cells]]\nclaim = "complete"',
            "[[experiments.cells]]\n"
            'stack = "pika"\nclaim = "complete"\n\n[[experiments.cells]]\n'
            'stack = "kombu"\nrate = 5\nclaim = "complete"',
        )
    )  # cell 1.02 publishes for 10 s: the Ctrl-C lands inside it
    out = tmp_path / "out"
    proc = subprocess.Popen(
        matrix_cmd("--preset", str(preset), "--out", str(out)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def publishing_in_cell_2() -> bool:
            assert proc.poll() is None, proc.communicate()
            journals = (out / "runs").glob("1.02-*/journal/producer*.jsonl")
            return any('"ev":"ok"' in j.read_text() for j in journals)

        # the Ctrl-C lands while cell 1.02 publishes (for 10 s): seen, not guessed
        assert wait_for(publishing_in_cell_2, 120.0, poll=0.2) is not None
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and len(stderr.strip().splitlines()) == 1
    doc = json.loads((out / "results.json").read_text())
    assert doc["interrupted"] and not doc["complete"]
    finished = [r for r in doc["results"] if not r.get("interrupted")]
    assert [r["cell"] for r in finished] == ["1.01"]
    md = (out / "report.md").read_text()
    assert "Interrupted" in md and "| 1.01 | pika |" in md
    assert (out / "report.html").exists() and (out / "results.csv").exists()
    # the matrix's own node is stopped, and nothing it started is left
    match = re.search(r"private node (mqc-\d+)@localhost at 127\.0\.0\.1:(\d+)", stdout)
    assert match, stdout
    assert not port_open("127.0.0.1", int(match.group(2)))
    assert _node_processes(match.group(1) + "@") == []
    assert _processes_mentioning(out) == []


def test_rate_paces_each_producer(run: Any) -> None:
    """--rate (a preset's `rate`) spreads a producer's messages over time, so that a small
    run still spans its fault plan."""
    from mqcompare.journal import journal_files, read_records

    result = run("pika", producers=2, messages=20, rate=10.0)
    assert result["counts"]["unique"] == 40
    invokes: dict[int, list[float]] = {}
    for path in journal_files(Path(result["_dir"])):
        for rec in read_records(path):
            if rec and rec.get("ev") == "invoke":
                invokes.setdefault(rec["p"], []).append(rec["t"])
    for times in invokes.values():
        assert 1.8 <= max(times) - min(times) <= 4.0  # 20 messages at 10/s: 1.9 s
