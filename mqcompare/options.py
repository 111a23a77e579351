"""The command line's options, made from the run settings (mqcompare.settings) and the
stacks' own options (mqcompare.stacks.StackOption): typed where users see them, so that a
bad value is refused in one line that names the flag and what it takes (exit 2), and
`run --help` shows each stack's own flags under its name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from mqcompare.errors import BadInput
from mqcompare.faults.plan import parse_fault
from mqcompare.faults.registry import KINDS
from mqcompare.settings import Setting
from mqcompare.spec import SETTINGS
from mqcompare.stacks import all_options, all_stacks
from mqcompare.units import parse_duration

COMMON = "Options"


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value), "")
        except BadInput as exc:
            self.fail(str(exc), param, ctx)


class FaultType(click.ParamType):
    name = "fault"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse_fault(value)
        except BadInput as exc:
            self.fail(str(exc).removeprefix("--fault: "), param, ctx)


class GroupedOption(click.Option):
    """An option with the heading `run --help` lists it under."""

    def __init__(self, *args: Any, group: str = COMMON, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group = group


class GroupedCommand(click.Command):
    """`--help` with the common options first, then each stack's own under its name."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                groups.setdefault(getattr(param, "group", COMMON), []).append(record)
        ordered = sorted(groups.items(), key=lambda item: item[0] != COMMON)  # common first
        for heading, records in ordered:
            with formatter.section(heading):
                formatter.write_dl(records)


def _type(s: Setting) -> Any:
    if s.kind == "int":
        low, high = s.minimum, s.maximum
        return click.IntRange(
            min=None if low is None else int(low), max=None if high is None else int(high)
        )
    if s.kind == "float":
        return click.FloatRange(min=s.minimum, max=s.maximum)
    if s.kind == "duration":
        return Duration()
    if s.kind == "choice":
        return click.Choice(s.choices)
    return None


def _modes() -> list[str]:
    return sorted({m for stack in all_stacks() for m in stack.modes})


def setting_option(name: str, **override: Any) -> Callable[[Any], Any]:
    """The click option of run setting `name` (a RunSpec field)."""
    s = SETTINGS[name]
    kw: dict[str, Any] = {"help": s.help, "cls": GroupedOption, "type": _type(s)}
    if s.kind == "faults":
        kw.update(multiple=True, type=FaultType(), metavar="KIND@AT[:DOWN][:TARGET]")
    elif s.kind in ("switch", "maybe"):
        kw.update(default=s.default, show_default=s.kind == "switch")
        del kw["type"]
    elif name == "stack":
        kw.update(required=True)
    elif name == "mode":
        kw.update(default=None, type=click.Choice(_modes()), metavar="MODE")
    else:
        default = f"{s.default:g}s" if s.kind == "duration" else s.default
        kw.update(default=default, show_default=bool(s.default) or s.kind != "text")
    kw.update(override)
    return click.option(s.flag, name, **kw)


def run_options(command: Any) -> Any:
    """Every run setting's option, in RunSpec's order, then every stack's own options."""
    for name in reversed(SETTINGS):
        command = setting_option(name)(command)
    for key, (opt, stacks) in reversed(all_options().items()):
        default = str(opt.default).lower() if opt.switch else opt.default
        extra: dict[str, Any] = {"is_flag": True} if opt.switch and "/" not in opt.flag else {}
        if opt.choices:
            extra["type"] = click.Choice(opt.choices)
        elif isinstance(opt.default, int) and not opt.switch:
            extra["type"] = click.IntRange(min=opt.minimum)
        command = click.option(
            opt.flag, key, default=None, help=f"{opt.help}  [default: {default}]",
            cls=GroupedOption, group=f"Options of {' and '.join(stacks)}", **extra,
        )(command)  # fmt: skip
    return command


def stacks_epilog() -> str:
    lines = []
    for st in all_stacks():
        modes = ", ".join(f"{m}{' (default)' if m == st.default_mode else ''}" for m in st.modes)
        extra = f"; faults {', '.join(st.faults)}" if st.faults else ""
        lines.append(f"{st.name}: {modes}{extra}.")
    kinds = ", ".join(k.example for k in KINDS.values())
    return f"Stacks and modes. {' '.join(lines)} Fault kinds: {kinds}."
