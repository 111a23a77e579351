"""The command line (docs/architecture.md): run, check, matrix, report, broker. Exit codes:
0 valid, 1 lost or unexpected messages found, 2 bad input, 3 infrastructure, 130
interrupted."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn, cast

import click
from rich.console import Console

from mqcompare.errors import BadInput, InfrastructureError
from mqcompare.files import write_json
from mqcompare.journal import JournalError
from mqcompare.options import GroupedCommand, run_options, setting_option, stacks_epilog
from mqcompare.result import RunResult
from mqcompare.spec import SETTINGS, RunSpec
from mqcompare.stacks import STACKS, all_options, load_stack, only_takers, resolve_mode

# Piped output (CI logs, files, a README) is 120 columns, not squeezed to 80.
console = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, highlight=False, emoji=False)


def _fail(code: int, message: str) -> NoReturn:
    err_console.print(f"mqcompare: error: {message}", markup=False, soft_wrap=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mqcompare")
def cli() -> None:
    """Which RabbitMQ client stack loses or duplicates messages under faults, and at what cost."""


_DOCKER_IMAGE = click.option(
    "--docker-image",
    default=None,
    help="The container's image  [default: $MQCOMPARE_DOCKER_IMAGE, else rabbitmq:3-management].",
)


def _use_image(image: str | None) -> None:
    if image:
        from mqcompare.brokers.container import IMAGE_ENV

        os.environ[IMAGE_ENV] = image  # read wherever a container is started, children too


@cli.command(cls=GroupedCommand, epilog=stacks_epilog())
@run_options
@_DOCKER_IMAGE
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run directory.  [default: runs/RUN_ID]",
)
@click.option("--json", "as_json", is_flag=True, help="Print result.json instead of the table.")
def run(out: Path | None, as_json: bool, docker_image: str | None, **given: Any) -> None:
    """Run one experiment and judge it; the run directory holds journals and result.json."""
    from mqcompare.runner import execute

    _use_image(docker_image)
    spec = _spec(given)
    out = out or Path("runs") / spec.run_id
    live = _Live(enabled=not as_json and console.is_terminal, spec=spec, quiet_stdout=as_json)
    try:
        with _out_dir(out):
            result = execute(spec, out, say=live.say, show=live.update)
    finally:
        live.stop()
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        from mqcompare.report import print_result

        print_result(result, console)
        console.print(f"run directory: {out}", markup=False)
    sys.exit(0 if result["verdict"]["valid"] else 1)


def _spec(given: dict[str, Any]) -> RunSpec:
    """The spec the options give: the run settings as they are, and the stack's own
    options (BadInput for one its stack does not take)."""
    stack = load_stack(given["stack"])
    settings = {k: v for k, v in given.items() if k in SETTINGS}
    settings["mode"] = resolve_mode(stack, settings["mode"]).name
    settings["faults"] = tuple(settings["faults"])
    options = {k: v for k, v in given.items() if k not in SETTINGS and v is not None}
    for key in options.keys() - {o.key for o in stack.options}:
        raise BadInput(all_options()[key][0].name, f"{only_takers(key)}, not {stack.name}")
    return RunSpec(**settings, stack_options=stack.option_values(options))


@contextlib.contextmanager
def _out_dir(path: Path) -> Iterator[None]:
    """Make `--out` now, before a broker boots (one line, exit 2, if it cannot be made);
    remove it again if the command is refused before writing anything into it."""
    existed = path.is_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput("--out", f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        yield
    except (BadInput, InfrastructureError):
        if not existed and not any(path.iterdir()):
            path.rmdir()
        raise


class _Live:
    """Progress while a run runs: a live line on a terminal, fault events always."""

    def __init__(self, enabled: bool, spec: RunSpec, quiet_stdout: bool = False) -> None:
        self.spec = spec
        # with --json, stdout holds the result alone: events go to stderr
        self.out = err_console if quiet_stdout else console
        self.status = None
        if enabled:
            self.status = console.status("starting")
            self.status.start()

    def say(self, message: str) -> None:
        self.out.print(f"[{self.spec.run_id}] {message}", markup=False)

    def update(self, c: dict[str, Any]) -> None:
        if self.status is not None:
            total = self.spec.total_messages
            self.status.update(
                f"{c['phase']}: {c['ok']:,}/{total:,} sent, {c['deliver']:,} delivered, "
                f"{c['fail'] + c['info']:,} errors, faults {c['faults']}/{c['faults_planned']}"
            )

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()


@cli.command()
@click.argument("dirs", nargs=-1, required=True)
@click.option(
    "--write",
    is_flag=True,
    help="Write the result to result.json in the first DIR (keeping what only the run knew).",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the result to this file.  [default: write nothing]",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check(dirs: tuple[str, ...], write: bool, out_file: Path | None, as_json: bool) -> None:
    """Recompute a result from journals alone (several directories: several machines);
    it prints the result and writes it only with --write or --out. Exit 1 when a message
    was lost or unexpected."""
    from mqcompare.checker import check_dirs

    result = check_dirs(list(dirs))
    # keep what only the runner knew (spec, drain, environment, wall time) from the run's
    # own result.json; replace what the journals tell
    previous: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        previous = json.loads((Path(dirs[0]) / "result.json").read_text())
    merged = {**previous, **result}
    if "duration_s" in previous:
        merged["duration_s"] = previous["duration_s"]
    target = out_file or (Path(dirs[0]) / "result.json" if write else None)
    if target is not None:
        write_json(target, merged)
    if as_json:
        click.echo(json.dumps(merged, indent=2))
    else:
        from mqcompare.report import print_result

        print_result(cast(RunResult, merged), console)
        if target is not None:
            console.print(f"written to {target}", markup=False)
    sys.exit(0 if result["verdict"]["valid"] else 1)


@cli.command(
    epilog="Presets: quick, seed, full, cluster, issues, rabbitmq4, redis (`mqcompare "
    "presets` lists each with its cells and how long it takes; --dry-run lists a preset's "
    "cells), or a .toml file of "
    "your own (see mqcompare/matrix/presets/seed.toml). A cell this machine lacks something "
    "for (nftables and root for a partition, a Docker engine for a container) is skipped, "
    "saying what to install. Exit 0 when every run completed, whatever they found; 3 when a "
    "run could not; 130 on Ctrl-C (finished cells reported)."
)
@click.option(
    "--preset",
    "preset_name",
    required=True,
    help="quick, seed, full, cluster, issues, rabbitmq4, redis or FILE.toml.",
)
@click.option(
    "--stacks", default="", help="Comma-separated stacks to keep  [default: all of the preset's]."
)
@click.option(
    "--experiments",
    default="",
    help="Comma-separated experiment ids to keep (e.g. 2,4b)  [default: all of the preset's].",
)
@click.option(
    "--repeat", type=click.IntRange(min=1), default=1, show_default=True, help="Runs per cell."
)
@click.option(
    "--broker",
    default="auto",
    show_default=True,
    help="auto, local (private node), docker (a container), or amqp://... (no broker faults).",
)
@_DOCKER_IMAGE
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory.  [default: runs/matrix-PRESET-TIME]",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the cells the matrix would run and how long it would take; start nothing.",
)
def matrix(
    preset_name: str,
    stacks: str,
    experiments: str,
    repeat: int,
    broker: str,
    docker_image: str | None,
    out: Path | None,
    dry_run: bool,
) -> None:
    """Run a preset's cells on one broker; results.json, results.csv, report.md, report.html."""
    _use_image(docker_image)
    import time

    from mqcompare.matrix.report import write_reports
    from mqcompare.matrix.run import run_matrix
    from mqcompare.matrix.terminal import print_summary

    preset = _chosen_preset(preset_name, stacks, experiments)
    runs = repeat
    if dry_run:
        _print_plan(preset, runs)
        return
    out = out or Path("runs") / f"matrix-{preset.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (out / "results.json").exists():
        raise BadInput("--out", f"{out} already holds a results.json; choose another directory")
    console.print(
        f"{preset.title}: {len(preset.cells)} cells x {runs} run(s), into {out}",
        markup=False,
    )
    with _out_dir(out):
        doc = run_matrix(preset, out, runs, broker, console)
    if doc["interrupted"]:
        console.print("interrupted: reporting the cells that finished", markup=False)
    write_reports(doc, out)
    print_summary(console, doc, out)
    if doc["interrupted"]:
        _fail(130, "interrupted; finished cells reported")
    if doc["failed_runs"]:
        _fail(3, f"{len(doc['failed_runs'])} run(s) could not complete; see report.md")


def _chosen_preset(preset_name: str, stacks: str, experiments: str) -> Any:
    """The preset, keeping only the --stacks and --experiments asked for."""
    from mqcompare.matrix.preset import load_preset

    preset = load_preset(preset_name)
    if stacks:
        wanted = [s.strip() for s in stacks.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in STACKS]
        if unknown or not wanted:
            raise BadInput(
                "--stacks", f"{', '.join(unknown) or stacks!r} not allowed; use {', '.join(STACKS)}"
            )
        preset = preset.only_stacks(wanted)
        if not preset.cells:
            raise BadInput("--stacks", f"preset {preset.name} has no cell for {stacks}")
    if experiments:
        ids = [e.strip() for e in experiments.split(",") if e.strip()]
        unknown = [e for e in ids if e not in preset.experiments]
        if unknown or not ids:
            raise BadInput(
                "--experiments",
                f"{', '.join(unknown) or experiments!r} not in preset {preset.name}; "
                f"allowed: {', '.join(preset.experiments)}",
            )
        preset = preset.only_experiments(ids)
        if not preset.cells:
            raise BadInput("--experiments", f"preset {preset.name} has no cell for {experiments}")
    return preset


def _print_plan(preset: Any, runs: int) -> None:
    """`matrix --dry-run`: each cell on a line, with its estimate, and the total."""
    from mqcompare.matrix.estimate import cell_seconds, time_text
    from mqcompare.matrix.run import cell_label

    for cell in preset.cells:
        console.print(
            f"{cell.id:>6}  {cell_seconds(cell) * runs:5.0f} s  {cell_label(cell)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"{preset.name}: {len(preset.cells)} cells x {runs} run(s), "
        f"{time_text(preset, runs)} (nothing was started)",
        markup=False,
        highlight=False,
    )


@cli.command()
def presets() -> None:
    """The built-in presets: their cells, experiments and how long each takes."""
    from mqcompare.matrix.estimate import time_text
    from mqcompare.matrix.preset import BUILTIN, load_preset

    for name in BUILTIN:
        preset = load_preset(name)
        console.print(
            f"{name:<9} {len(preset.cells):>4} cells  {time_text(preset):<16} "
            f"experiments {', '.join(preset.experiments)}",
            markup=False,
            highlight=False,
        )
        console.print(f"          {preset.title}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        "Run one: mqcompare matrix --preset NAME; see its cells: add --dry-run.",
        markup=False,
        highlight=False,
    )


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the reports here.  [default: DIRECTORY]",
)
def report(directory: Path, out: Path | None) -> None:
    """Rebuild the reports from DIRECTORY's results alone: results.json of a matrix
    (report.md, report.html, results.csv, claims.csv), or the result.json files of single
    runs (report.md, and each run's timeline.svg beside its result.json)."""
    if not directory.is_dir():
        raise BadInput("DIRECTORY", f"{directory} is not a directory")
    out = out or directory
    out.mkdir(parents=True, exist_ok=True)
    if (directory / "results.json").is_file():
        from mqcompare.matrix.report import write_reports
        from mqcompare.matrix.run import load_doc
        from mqcompare.matrix.terminal import print_summary

        try:
            doc = load_doc(directory)
        except (ValueError, KeyError) as exc:
            raise BadInput("DIRECTORY", f"{directory / 'results.json'}: {exc}") from None
        write_reports(doc, out)
        print_summary(console, doc, out)
        return
    from mqcompare.report import load_results, markdown_table, summary_table
    from mqcompare.timeline import timeline_svg

    results = load_results(directory)
    console.print(summary_table(results, title=str(directory)))
    for path in sorted(directory.rglob("result.json")):
        svg = timeline_svg(json.loads(path.read_text()), f"timeline of {path.parent.name}")
        if svg:
            target = out / path.parent.relative_to(directory) / "timeline.svg"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(svg)
            console.print(f"written to {target}", markup=False)
    (out / "report.md").write_text(f"# mqcompare: {directory}\n\n" + markdown_table(results))
    console.print(f"written to {out / 'report.md'}", markup=False)


@cli.group()
def broker() -> None:
    """A broker that several runs share: a private node (`--broker local` finds it), a
    container (`--broker docker` finds it) or a Redis (`--broker redis`)."""


@broker.command("up")
@click.option(
    "--broker",
    "kind",
    type=click.Choice(["local", "docker", "redis"]),
    default="local",
    show_default=True,
    help="What to keep: a private RabbitMQ node, a RabbitMQ container, a private Redis.",
)
@click.option("--docker", is_flag=True, help="Keep a RabbitMQ container (--broker docker).")
@setting_option("cluster", help="Keep a private cluster of N nodes.", cls=click.Option)
@setting_option("partition_handling", cls=click.Option)
@setting_option("redis_persistence", cls=click.Option)
@_DOCKER_IMAGE
def broker_up(
    kind: str,
    docker: bool,
    cluster: int,
    partition_handling: str,
    redis_persistence: str,
    docker_image: str | None,
) -> None:
    """Start the kept node (or container, cluster or Redis), unless one is already up."""
    from mqcompare.brokers.factory import keep_broker

    _use_image(docker_image)
    redis = redis_persistence if kind == "redis" else ""
    kept, started, state = keep_broker(
        docker or kind == "docker", cluster, partition_handling, redis
    )
    said = "started" if started else "already up:"
    console.print(f"{said} {kept.kept_words()}", markup=False)
    console.print(f"state: {state}", markup=False)


@broker.command("down")
def broker_down() -> None:
    """Stop the kept node, cluster and container, and remove their data."""
    from mqcompare.brokers.factory import kept_brokers

    stopped = []
    for kept in kept_brokers():
        kept.stop()
        stopped.append(kept.name)
    console.print(f"stopped {', '.join(stopped)}" if stopped else "nothing kept is running")


@broker.command("status")
def broker_status() -> None:
    """Say whether a kept node, cluster or container is up; exit 0 if one is, 1 if not."""
    from mqcompare.brokers.factory import kept_brokers

    kept = kept_brokers()
    if not kept:
        console.print("down", markup=False)
        sys.exit(1)
    for broker in kept:
        console.print(f"up: {broker.kept_words()}", markup=False)


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    from mqcompare.checker import NoJournal

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        cli.main(args=argv, prog_name="mqcompare", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(2)
    except click.UsageError as exc:
        _fail(2, exc.format_message().replace("\n", " "))
    except click.exceptions.Abort:  # click's name for a KeyboardInterrupt
        _fail(130, "interrupted; journals kept")
    except (BadInput, NoJournal, JournalError) as exc:
        _fail(2, str(exc))
    except InfrastructureError as exc:
        _fail(3, str(exc))
    except KeyboardInterrupt:
        _fail(130, "interrupted; journals kept")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
