"""`mqcompare matrix`: every cell of a preset, in sequence, on one broker.

results.json is rewritten after every run, so a Ctrl-C, a crash or a failed cell leaves
the finished runs on disk; the reports are built from that file alone."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from mqcompare.brokers.base import BrokerControl
from mqcompare.brokers.clustered import in_parallel
from mqcompare.brokers.factory import broker_kind, open_broker
from mqcompare.environment import environment
from mqcompare.errors import BadInput, InfrastructureError, NotOnThisBroker
from mqcompare.faults.plan import machine_lacks, parse_fault, require
from mqcompare.files import write_json
from mqcompare.handover import Handover
from mqcompare.matrix.claims import error_count
from mqcompare.matrix.estimate import cell_seconds, duration_text
from mqcompare.matrix.preset import Cell, Preset
from mqcompare.outcome import outcome
from mqcompare.report import headline
from mqcompare.result import RunResult
from mqcompare.runner import execute_back_to_back
from mqcompare.spans import faults_missed
from mqcompare.stacks import load_stack
from mqcompare.units import redact_url

RESULTS_FORMAT = "mqcompare.matrix/1"

BrokerKey = tuple[str, int, str, str, str]
"""A matrix's broker: its choice, cluster size, partition handling, image, persistence."""


def cell_label(cell: Cell) -> str:
    protocol = broker_kind(cell.broker or "auto").protocol
    spec = cell.spec().to_json() | {"stack_options": cell.options, "broker_protocol": protocol}
    return headline({"spec": spec})


class RateMeter:
    """Messages per second over the last `window` seconds of samples."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, n: int) -> float:
        now = time.monotonic()
        self.samples.append((now, n))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.popleft()
        t0, n0 = self.samples[0]
        return (n - n0) / (now - t0) if now > t0 else 0.0


class MatrixView:
    """Live progress on a terminal (cell n of N, rates, faults); plain lines elsewhere."""

    def __init__(self, console: Console, total: int, seconds: list[float] | None = None) -> None:
        self.console = console
        # each run's estimated seconds, in order: the time left is their sum from here,
        # scaled by how the estimate has compared with the clock so far
        self.seconds = seconds or [0.0] * total
        self.started = time.monotonic()
        self.runs_begun = 0
        self.live_mode = console.is_terminal
        self.bar = Progress(
            TextColumn("cells"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.bar.add_task("cells", total=total)
        self.line = Text("")
        self.current = ""
        self.live = Live(Group(self.bar, self.line), console=console, refresh_per_second=4)
        self.sent, self.delivered = RateMeter(), RateMeter()
        if self.live_mode:
            self.live.start()

    def begin(self, n: int, total: int, cell: Cell, repeat: int, repeats: int) -> None:
        self.sent, self.delivered = RateMeter(), RateMeter()
        run = f", run {repeat} of {repeats}" if repeats > 1 else ""
        self.current = f"cell {n} of {total}{run} ({self.clock()}): {cell.id} {cell_label(cell)}"
        self.runs_begun += 1
        if self.live_mode:
            self.line.plain = self.current
        else:
            self.console.print(self.current, markup=False, highlight=False)

    def clock(self) -> str:
        """'2m10s elapsed, about 4 min left'."""
        elapsed = time.monotonic() - self.started
        done, left = self.seconds[: self.runs_begun], self.seconds[self.runs_begun :]
        factor = elapsed / sum(done) if sum(done) > 0 else 1.0
        minutes, secs = divmod(int(elapsed), 60)
        return f"{minutes}m{secs:02d}s elapsed, {duration_text(factor * sum(left))} left"

    def say(self, message: str) -> None:
        self.console.print(f"  {message}", markup=False, highlight=False)

    def show(self, c: dict[str, Any]) -> None:
        sent_rate, deliver_rate = self.sent.add(c["ok"]), self.delivered.add(c["deliver"])
        if not self.live_mode:
            return
        self.line.plain = (
            f"{self.current}\n  {c['phase']}: {c['ok']:,} sent ({sent_rate:,.0f}/s), "
            f"{c['deliver']:,} delivered ({deliver_rate:,.0f}/s), "
            f"{c['fail'] + c['info']:,} errors, faults {c['faults']}/{c['faults_planned']}"
        )

    def done(self, summary: str) -> None:
        self.bar.advance(self.task)
        self.console.print(f"  {summary}", markup=False, highlight=False)

    def stop(self) -> None:
        if self.live_mode:
            self.live.stop()


def unmet(cell: Cell) -> str:
    """What this machine lacks to run `cell`, and what to install ('' when nothing): such a
    cell is skipped with that said, not run to fail."""
    for kind in dict.fromkeys(parse_fault(f).kind for f in cell.faults):
        why = machine_lacks(kind)
        if why:
            return f"a {kind}: {why}"
    if cell.broker == "docker":
        from mqcompare.brokers.container import image_missing

        why = image_missing(cell.docker_image)
        if why:
            return f"a Docker broker: {why}"
    return ""


def run_summary(result: RunResult, intended: str = "") -> str:
    """'742 lost silently | 10,000 attempted, 742 lost, ...': the outcome first."""
    c = result["counts"]
    return (
        f"{outcome([result], intended=intended).text} | {c['attempted']:,} attempted, "
        f"{c['lost']:,} lost, {c['duplicated']:,} duplicated, {c['recovered']:,} recovered, "
        f"{error_count(result):,} errors, {result['throughput']['publish_per_s']:,.0f} msg/s "
        f"({result['duration_s']:.1f} s)"
    )


class Brokers:
    """The matrix's brokers: its own (--broker) and any other that cells name (`broker =
    "docker"`, a cluster), all booted at once before the first run and closed at once at
    the end. A broker that cannot be opened fails the runs of the cells that name it, not
    the matrix."""

    def __init__(self, default: str, label: str, cells: list[Cell]) -> None:
        self.default, self.label = default, label
        self.kinds: dict[BrokerKey, set[str]] = {}
        for c in cells:  # the cells that run: a skipped cell's fault asks nothing of a broker
            kinds = self.kinds.setdefault(self._key(c), set())
            kinds.update(parse_fault(f).kind for f in c.faults)
        self.open: dict[BrokerKey, BrokerControl] = {}
        self.failed: dict[BrokerKey, InfrastructureError | BadInput] = {}
        self.booting: dict[BrokerKey, threading.Thread] = {}
        self.handed: set[BrokerKey] = set()  # checked for its cells' faults and healed

    def _key(self, cell: Cell) -> BrokerKey:
        """One broker per choice and image; a cluster per size and partition handling; a
        Redis per persistence."""
        handling = cell.partition_handling if cell.cluster > 1 else ""
        choice = cell.broker or self.default
        persistence = cell.redis_persistence if broker_kind(choice).protocol == "redis" else ""
        return (choice, cell.cluster, handling, cell.docker_image, persistence or "default")

    def boot_all(self) -> None:
        """Boot every broker the cells name at once, before the first run (a cluster takes
        20 s here, a node and a container several each): none boots while a run
        measures, and the matrix waits for the slowest boot rather than the sum."""
        for key in self.kinds:
            if key not in self.open and key not in self.failed and key not in self.booting:
                th = threading.Thread(target=self._open, args=(key,), name=f"boot-{key[0]}")
                self.booting[key] = th
                th.start()

    def wait_all(self) -> None:
        """Every boot under way ended (opened or failed). Interrupted, each is still
        waited for, so that `close` stops what it started."""
        try:
            for th in list(self.booting.values()):
                th.join()
        except KeyboardInterrupt:
            for th in list(self.booting.values()):
                th.join()
            raise

    def get(self, cell: Cell) -> BrokerControl:
        """The cell's broker, booted if need be (or raising what kept it from booting);
        the first time it is handed out, checked for the cell's faults and healed."""
        key = self._key(cell)
        if key in self.booting:
            self.booting[key].join()
        elif key not in self.open and key not in self.failed:
            self._open(key)
        if key in self.failed:
            raise self.failed[key]
        broker = self.open[key]
        if key not in self.handed:
            self.handed.add(key)
            require(broker, sorted(self.kinds.get(key, ())))
            broker.heal()
        return broker

    def _open(self, key: BrokerKey) -> None:
        choice, cluster, handling, image, persistence = key
        try:
            broker = open_broker(
                choice, self.label, cluster, handling, image=image, persistence=persistence
            )
        except (InfrastructureError, BadInput) as exc:  # raised by `get`, for its cells
            self.failed[key] = exc
        else:
            self.open[key] = broker

    def close(self) -> None:
        """Every broker at once, once none is still booting: a node's graceful stop takes
        seconds, a cluster's and a container's as long, and the answer waits for the last."""
        self.wait_all()
        in_parallel([partial(_close_quietly, b) for b in self.open.values()])


def _close_quietly(broker: BrokerControl) -> None:
    with contextlib.suppress(Exception):
        broker.close()


def run_matrix(
    preset: Preset, out: Path, repeat: int, broker_choice: str, console: Console
) -> dict[str, Any]:
    """Run every cell `repeat` times; the results document (also out/results.json). A
    Ctrl-C once the matrix has begun stops it after saving the finished runs: the
    document says `interrupted`; before, it is raised as it came."""
    return MatrixRun(preset, out, repeat, broker_choice, console).run()


class MatrixRun:
    """One matrix: the document it fills, its brokers (one per kind of cell), its view."""

    def __init__(
        self, preset: Preset, out: Path, repeat: int, broker_choice: str, console: Console
    ) -> None:
        self.preset, self.out, self.repeat, self.console = preset, out, repeat, console
        self.doc: dict[str, Any] = {
            "format": RESULTS_FORMAT,
            "preset": preset.to_json(),
            "repeat": repeat,
            "started_at": time.time(),
            "finished_at": None,
            "complete": False,
            "interrupted": False,
            "failed_runs": [],
            "skipped": [],  # cells this machine cannot run: {"cell", "why"}
            "results": [],
        }
        self.broker_choice = broker_choice
        self.brokers = Brokers(broker_choice, f"matrix-{preset.name}", [])
        self.view: MatrixView | None = None
        self.began = False
        self.handover: Handover[RunResult] = Handover()  # a run ending while the next boots

    def run(self) -> dict[str, Any]:
        try:
            cells = self._runnable()
            self._begin(cells)
            for n, cell in enumerate(cells, 1):
                for k in range(1, self.repeat + 1):
                    self._run(n, len(cells), cell, k)
            self.handover.settle()  # the last run's end
            self.doc["complete"] = not self.doc["failed_runs"]
        except KeyboardInterrupt:
            if not self.began:
                raise  # before the matrix began: nothing to report
            self.doc["interrupted"] = True
        finally:
            self._settle_quietly()
            if self.view is not None:
                self.view.stop()
            self.brokers.close()
            self.doc["finished_at"] = time.time()
            if self.began:  # not when the broker could not serve the matrix
                write_json(self.out / "results.json", self.doc)
        return self.doc

    def _settle_quietly(self) -> None:
        """The run still ending, ended and recorded, whatever stopped the matrix (a second
        Ctrl-C meanwhile is let through: the runs' processes end with mqcompare anyway)."""
        try:
            self.handover.settle()
        except Exception as exc:  # the matrix is ending on an error of its own already
            self.console.print(f"  the last run's end failed: {exc}", markup=False)

    def _runnable(self) -> list[Cell]:
        """The cells this machine can run; the others are skipped, saying what they need."""
        skip = {c.id: why for c in self.preset.cells if (why := unmet(c))}
        self.doc["skipped"] = [{"cell": cid, "why": why} for cid, why in skip.items()]
        for why, cids in _by_reason(skip).items():
            self.console.print(
                f"skipping {len(cids)} cell(s) ({', '.join(cids)}): they need {why}",
                markup=False,
                highlight=False,
            )
        cells = [c for c in self.preset.cells if c.id not in skip]
        if not cells:
            raise InfrastructureError("this machine can run none of the preset's cells")
        # what the brokers must offer is what the cells that run need
        self.brokers = Brokers(self.broker_choice, f"matrix-{self.preset.name}", cells)
        return cells

    def _begin(self, cells: list[Cell]) -> None:
        """Every broker booting, the first cell's (usually the matrix's own) awaited: exit 3
        if it fails (once the others' boots have ended, to be stopped); then what the
        matrix runs on, and the view."""
        if len(self.brokers.kinds) > 1:
            self.console.print(
                f"booting {len(self.brokers.kinds)} brokers at once: "
                + "; ".join(_broker_text(key) for key in self.brokers.kinds),
                markup=False,
                highlight=False,
            )
        self.brokers.boot_all()
        broker = self.brokers.get(cells[0])  # exit 3 once its own boot has failed
        self.brokers.wait_all()
        self.out.mkdir(parents=True, exist_ok=True)
        self.began = True
        self.doc["broker"] = broker.describe()
        spoken = {
            (c.stack, broker_kind(c.broker or self.brokers.default).protocol)
            for c in self.preset.cells
        }
        libraries = [
            d for name, on in sorted(spoken) for d in load_stack(name).distributions_on(on)
        ]
        self.doc["environment"] = environment(broker.versions(), libraries)
        self.console.print(f"broker: {broker.describe()}", markup=False, highlight=False)
        write_json(self.out / "results.json", self.doc)
        estimates = [cell_seconds(c) for c in cells for _ in range(self.repeat)]
        self.view = MatrixView(self.console, len(cells) * self.repeat, estimates)

    def _run(self, n: int, total: int, cell: Cell, k: int) -> None:
        """Run k of cell n. It boots while the previous run ends (runner.Handover); its
        line is printed, and it publishes, once that one is reported. Its result (or why
        it failed) goes into the document when it ends."""
        assert self.view is not None
        view, doc = self.view, self.doc
        run_dir = self.out / "runs" / f"{cell.id}-{cell.stack}-{cell.mode}-r{k}"
        began = False

        def begin() -> None:  # the previous run reported, this one's line printed
            nonlocal began
            self.handover.settle()
            if not began:
                began = True
                view.begin(n, total, cell, k, self.repeat)

        try:
            broker = self.brokers.get(cell)
            result = execute_back_to_back(
                cell.spec(),
                run_dir,
                broker,
                say=view.say,
                show=view.show,
                handover=self.handover,
                report=partial(self._report, cell, k),
                before_go=begin,
            )
        except KeyboardInterrupt:
            begin()
            with contextlib.suppress(OSError, ValueError):  # the cut-short run
                partial_run = json.loads((run_dir / "result.json").read_text())
                doc["results"].append(partial_run | {"cell": cell.id, "repeat": k})
            raise
        except (NotOnThisBroker, InfrastructureError) as exc:
            begin()
            self._report(cell, k, None, exc)
        else:
            if result is not None:  # it ended here, not in the handover
                begin()
                self._report(cell, k, result, None)

    def _report(
        self, cell: Cell, k: int, result: RunResult | None, error: BaseException | None
    ) -> None:
        """What became of run k of `cell`, into the document and on the screen."""
        assert self.view is not None
        view, doc = self.view, self.doc
        if isinstance(error, NotOnThisBroker):
            # the broker's version cannot answer the cell's question: skipped, saying why
            if k == 1:
                doc["skipped"].append({"cell": cell.id, "why": str(error)})
            view.done(f"{cell.id}: skipped: {error}")
        elif isinstance(error, InfrastructureError):
            # the broker failed this run (e.g. a node that did not come back); the matrix
            # records it and goes on with the next cell
            doc["failed_runs"].append({"cell": cell.id, "repeat": k, "error": str(error)})
            view.done(f"{cell.id} run {k}: FAILED: {error}")
        elif error is not None:
            raise error  # a bug, not a finding: as if the run had ended in this thread
        else:
            assert result is not None
            doc["results"].append(result | {"cell": cell.id, "repeat": k})
            missed = faults_missed(result)
            if missed:
                view.say(f"WARNING: {cell.id}: {missed}: this run tests no claim")
            view.done(f"{cell.id}: {run_summary(result, cell.intended)}")
        write_json(self.out / "results.json", doc)


def _broker_text(key: BrokerKey) -> str:
    """'a private node', 'a cluster of 3 private nodes (pause_minority)', 'a container
    (mqcompare/rabbitmq:4.0)', 'a private Redis (aof-always)', or the URL."""
    choice, cluster, handling, image, persistence = key
    if cluster > 1:
        members = "containers" if choice == "docker" else "private nodes"
        return f"a cluster of {cluster} {members} ({handling})"
    if choice == "docker":
        return f"a container ({image or 'the default image'})"
    if choice == "redis":
        return f"a private Redis ({persistence})"
    if choice == "auto":
        return "its own broker (--broker auto)"
    return "a private node" if choice == "local" else redact_url(choice)


def _by_reason(skip: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for cid, why in skip.items():
        found.setdefault(why, []).append(cid)
    return found


def load_doc(directory: Path) -> dict[str, Any]:
    path = directory / "results.json"
    data = json.loads(path.read_text())
    if data.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{path} is not a {RESULTS_FORMAT} file")
    return data
