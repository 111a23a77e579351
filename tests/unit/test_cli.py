"""Bad input: one line naming the flag, exit 2; unreachable broker: exit 3 within seconds.
Run as a real subprocess, as a user would."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

# mqcompare's main() in a Python where importing any client library fails
WITHOUT_CLIENTS = (
    "import sys\n"
    "for name in ('pika', 'kombu', 'celery', 'amqp', 'aio_pika', 'aiormq'):\n"
    "    sys.modules[name] = None\n"
    "from mqcompare.cli import main\n"
    "main(sys.argv[1:])\n"
)


def mqcompare(
    *args: str, timeout: float = 30, clients: bool = True
) -> subprocess.CompletedProcess[str]:
    python = ["-m", "mqcompare.cli"] if clients else ["-c", WITHOUT_CLIENTS]
    return subprocess.run(
        [sys.executable, *python, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--stack", "nope"], "--stack"),
        (["--stack", "pika", "--mode", "sideways"], "--mode"),
        (["--stack", "pika", "--producers", "0"], "--producers"),
        (["--stack", "pika", "--messages", "-5"], "--messages"),
        (["--stack", "pika", "--producers", "many"], "--producers"),
        (["--stack", "pika", "--fault", "restart@x"], "--fault"),
        (["--stack", "pika", "--fault", "nuke@1s"], "--fault"),
        (["--stack", "pika", "--fault", "worker-kill@1s"], "--fault"),
        (["--stack", "pika", "--ack", "never"], "--ack"),
        (["--stack", "pika", "--broker", "carrier-pigeon"], "--broker"),
        (["--stack", "pika", "--consumer", "telepathy"], "--consumer"),
        (["--stack", "pika", "--retry-budget", "soon"], "--retry-budget"),
        (["--stack", "pika", "--rate", "-1"], "--rate"),
        (["--stack", "pika", "--queue", "stream"], "--queue"),
        (["--stack", "pika", "--rate", "fast"], "--rate"),
        (["--stack", "pika", "--concurrency", "4"], "--concurrency"),
        (["--stack", "kombu", "--no-acks-late"], "--acks-late"),
        (["--stack", "celery", "--concurrency", "none"], "--concurrency"),
        (["--stack", "celery", "--consumer", "pika"], "--consumer"),
        (["--stack", "pika", "--out", "/proc/forbidden/run"], "--out"),
        (["--stack", "celery", "--ack", "auto"], "--ack"),
        (["--stack", "celery", "--publish-retry", "forever"], "--publish-retry"),
        (["--stack", "aio-pika", "--confirm-window", "10"], "--confirm-window"),
        (["--stack", "aio-pika", "--confirms", "--confirm-window", "0"], "--confirm-window"),
        (["--stack", "pika", "--confirms", "--confirm-window", "10"], "--confirm-window"),
        (["--stack", "aio-pika", "--mode", "shared-unsafe"], "--mode"),
        (["--stack", "dramatiq", "--mandatory"], "--mandatory"),
        (["--stack", "pika", "--consumer-timeout", "soon"], "--consumer-timeout"),
        (["--stack", "pika", "--fault", "alarm@1s"], "--fault"),
        (["--stack", "pika", "--fault", "alarm@1s:2s:cpu"], "--fault"),
        (["--stack", "pika", "--fault", "queue-delete@1s:2s"], "--fault"),
        (["--bogus"], "--bogus"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], flag: str, tmp_path: Path) -> None:
    out = [] if "--out" in args else ["--out", str(tmp_path / "run")]
    started = time.monotonic()
    done = mqcompare("run", *args, *out)
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 10, "refused before any broker boots"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert flag in lines[0]
    assert not (tmp_path / "run").exists(), "nothing is run on bad input"


@pytest.mark.parametrize("stack", ["pika", "aio-pika"])
def test_unreachable_broker_is_exit_3_naming_host_and_port(stack: str, tmp_path: Path) -> None:
    port = closed_port()
    started = time.monotonic()
    done = mqcompare(
        "run",
        "--stack",
        stack,
        "--broker",
        f"amqp://guest:hunter2@127.0.0.1:{port}/",
        "--out",
        str(tmp_path / "r"),
    )
    assert done.returncode == 3
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_check_without_journal_is_exit_2(tmp_path: Path) -> None:
    done = mqcompare("check", str(tmp_path))
    assert done.returncode == 2
    assert "no journal" in done.stderr


def test_help_check_and_report_import_no_client_library(tmp_path: Path) -> None:
    """Stacks are read through their import-light stack.py: --help lists every stack's
    modes and options, and results are checked and reported, with no client installed."""
    done = mqcompare("run", "--help", clients=False)
    assert done.returncode == 0, done.stderr
    for text in ("pika", "kombu", "celery", "--acks-late", "channel-per-thread"):
        assert text in done.stdout
    from tests.journals import dlv, inv, ok, write

    write(tmp_path / "journal" / "p.jsonl", "producer", [inv(0, 0, 1), ok(0, 0, 2)])
    write(tmp_path / "journal" / "c.jsonl", "consumer", [dlv(0, 0, 3)])
    assert mqcompare("check", str(tmp_path), "--write", clients=False).returncode == 0
    spec = {"stack": "celery", "mode": "shared-app", "stack_options": {"acks_late": False}}
    import json

    result = json.loads((tmp_path / "result.json").read_text())
    (tmp_path / "result.json").write_text(json.dumps(result | {"spec": spec}))
    done = mqcompare("report", str(tmp_path), clients=False)
    assert done.returncode == 0, done.stderr
    assert "early ack" in (tmp_path / "report.md").read_text()
    started = time.monotonic()
    done = mqcompare("run", "--stack", "pika", "--out", str(tmp_path / "r"), clients=False)
    assert done.returncode == 3 and "pika" in done.stderr, done.stderr
    assert time.monotonic() - started < 10, "said before any broker boots"


def test_check_recomputes_from_journals_and_writes_out(tmp_path: Path) -> None:
    from tests.journals import dlv, inv, ok, write

    write(
        tmp_path / "journal" / "p.jsonl",
        "producer",
        [inv(0, 0, 1), ok(0, 0, 2), inv(0, 1, 3), ok(0, 1, 4)],
    )
    write(tmp_path / "journal" / "c.jsonl", "consumer", [dlv(0, 0, 5)])
    done = mqcompare("check", str(tmp_path), "--out", str(tmp_path / "r.json"))
    assert done.returncode == 1, "a lost message makes the run invalid"
    assert "outcome: 1 lost silently" in done.stdout
    import json

    assert json.loads((tmp_path / "r.json").read_text())["counts"]["lost"] == 1


def test_check_writes_only_when_asked(tmp_path: Path) -> None:
    from tests.journals import dlv, inv, ok, write

    write(tmp_path / "journal" / "p.jsonl", "producer", [inv(0, 0, 1), ok(0, 0, 2)])
    write(tmp_path / "journal" / "c.jsonl", "consumer", [dlv(0, 0, 3)])
    (tmp_path / "result.json").write_text('{"spec": {"stack": "pika"}, "environment": {"cpus": 2}}')
    done = mqcompare("check", str(tmp_path))
    assert done.returncode == 0 and "written" not in done.stdout
    assert "counts" not in (tmp_path / "result.json").read_text(), "check alone writes nothing"
    assert mqcompare("check", str(tmp_path), "--write").returncode == 0
    import json

    written = json.loads((tmp_path / "result.json").read_text())
    assert written["counts"]["delivered"] == 1
    assert written["environment"] == {"cpus": 2}, "what only the run knew is kept"


def test_report_tabulates_finished_runs(tmp_path: Path) -> None:
    import json

    from tests.journals import dlv, inv, ok, write

    for n, delivered in enumerate((True, False)):
        run = tmp_path / f"run{n}"
        write(run / "journal" / "p.jsonl", "producer", [inv(0, 0, 1), ok(0, 0, 2)])
        write(run / "journal" / "c.jsonl", "consumer", [dlv(0, 0, 3)] if delivered else [])
        (run / "result.json").write_text(json.dumps({"spec": {"stack": "pika", "mode": f"m{n}"}}))
        assert mqcompare("check", str(run), "--write").returncode == (0 if delivered else 1)
    done = mqcompare("report", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = (tmp_path / "report.md").read_text().splitlines()[4:]
    assert [r.split(" | ")[1] for r in rows] == ["m0", "m1"]
    assert rows[0].endswith("exactly once |") and rows[1].endswith("1 lost silently |")
    assert mqcompare("report", str(tmp_path / "nothing")).returncode == 2


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--preset", "medium"], "--preset"),
        (["--preset", "quick", "--repeat", "0"], "--repeat"),
        (["--preset", "quick", "--repeat", "twice"], "--repeat"),
        (["--preset", "quick", "--stacks", "pika,zeromq"], "--stacks"),
        (["--preset", "quick", "--broker", "carrier-pigeon"], "--broker"),
        (["--preset", "quick", "--experiments", "4b,9"], "--experiments"),
        (["--preset", "quick", "--stacks", "celery", "--experiments", "4b"], "--experiments"),
        (["--stacks", "pika"], "--preset"),
    ],
)
def test_matrix_bad_input_is_one_line_exit_2(args: list[str], flag: str, tmp_path: Path) -> None:
    done = mqcompare("matrix", *args, "--out", str(tmp_path / "m"))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert flag in lines[0]
    assert not (tmp_path / "m").exists(), "nothing is run on bad input"


def test_matrix_will_not_overwrite_a_finished_matrix(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text("{}")
    done = mqcompare("matrix", "--preset", "quick", "--out", str(tmp_path))
    assert done.returncode == 2 and "--out" in done.stderr
    assert (tmp_path / "results.json").read_text() == "{}"


def test_report_draws_a_single_runs_timeline(tmp_path: Path) -> None:
    import json

    from mqcompare.checker import timeline
    from tests.results import result

    run = result()
    run["faults"] = [{"kind": "kill", "down_s": 0.5, "up_s": 1.5, "end_s": 1.5, "hit": True}]
    run["timeline"] = timeline([0.1 * i for i in range(30)], [0.2], [0.6], base=0.0)
    (tmp_path / "result.json").write_text(json.dumps(run))
    done = mqcompare("report", str(tmp_path), clients=False)
    assert done.returncode == 0, done.stderr
    svg = (tmp_path / "timeline.svg").read_text()
    assert svg.startswith("<svg") and "kill down 0.50 s, up 1.50 s" in svg


def test_report_out_writes_elsewhere_and_leaves_the_results_alone(tmp_path: Path) -> None:
    import json

    from tests.results import result

    runs = tmp_path / "runs"
    (runs / "a").mkdir(parents=True)
    (runs / "a" / "result.json").write_text(json.dumps(result()))
    done = mqcompare("report", str(runs), "--out", str(tmp_path / "out"), clients=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "report.md").exists() and not (runs / "report.md").exists()


def test_an_error_repeats_the_input_as_given(tmp_path: Path) -> None:
    """What the user typed comes back verbatim: `:x:` is not turned into an emoji."""
    done = mqcompare("run", "--stack", "pika", "--fault", "restart@1s:x:y:z", "--out",
                     str(tmp_path / "run"))  # fmt: skip
    assert done.returncode == 2
    assert "'restart@1s:x:y:z' has more parts than" in done.stderr
