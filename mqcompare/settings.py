"""A run setting's one description (docs/architecture.md, "Run settings"): each RunSpec
field that a user sets carries its flag, its preset key, its help, its kind, default,
choices and bounds; the CLI's options, the preset parser and the spec's validation are
derived from it, so a setting is written once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from mqcompare.errors import BadInput
from mqcompare.units import parse_duration

Kind = Literal["int", "float", "duration", "choice", "switch", "maybe", "text", "faults"]


@dataclass(frozen=True)
class Setting:
    """How users give one RunSpec field: `flag` on the command line, `key` in a preset
    (None: not a preset key), in seconds for a duration."""

    flag: str
    help: str
    kind: Kind
    key: str | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    # what makes the minimum special, in an error: "0: unpaced"
    zero: str = ""
    field: str = ""  # the RunSpec field, filled in by `settings()`
    default: Any = None

    @property
    def name(self) -> str:
        return self.flag.split("/")[0]

    def allowed(self) -> str:
        """What the setting takes, as an error says it."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        words = {"int": "a whole number", "float": "a number", "duration": "seconds"}
        what = words.get(self.kind, "a value")
        if self.minimum is not None and self.maximum is not None:
            return f"{what} from {self.minimum:g} to {self.maximum:g}"
        if self.minimum is not None:
            limit = "more than 0" if self.minimum > 0 and self.kind == "duration" else ""
            zero = f" ({self.zero})" if self.zero else ""
            return f"{what} {limit or f'of at least {self.minimum:g}'}{zero}"
        return what

    def check(self, value: Any, flag: str | None = None) -> None:
        """BadInput naming the flag (or `flag`; "": none) when `value` is not one it takes."""
        flag = self.name if flag is None else flag
        if self.kind in ("int", "float", "duration"):
            number_types = int if self.kind == "int" else (int, float)
            if isinstance(value, bool) or not isinstance(value, number_types):
                raise BadInput(flag, f"must be {self.allowed()}, got {value!r}")
            low_ok = self.minimum is None or (
                value > 0 if self.kind == "duration" and self.minimum > 0 else value >= self.minimum
            )
            if not low_ok or (self.maximum is not None and value > self.maximum):
                raise BadInput(flag, f"must be {self.allowed()}, got {value!r}")
        elif self.kind == "choice" and value not in self.choices:
            raise BadInput(flag, f"{value!r} is not {self.allowed()}")
        elif (self.kind == "switch" and not isinstance(value, bool)) or (
            self.kind == "maybe" and value is not None and not isinstance(value, bool)
        ):
            raise BadInput(flag, f"must be true or false, got {value!r}")

    def from_preset(self, value: Any, where: str) -> Any:
        """A preset's TOML value as the field's value; BadInput naming `where` and the key."""
        try:
            if self.kind == "duration" and isinstance(value, str):
                value = parse_duration(value, "")
            if self.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if self.kind == "text":
                value = str(value)
            self.check(value, "")
        except BadInput as exc:
            raise BadInput("--preset", f"{where}: {self.key}: {exc}") from None
        return value


def setting(default: Any, flag: str, help: str, kind: Kind, **rest: Any) -> Any:
    """A RunSpec field that users set (its description in the field's metadata)."""
    return dataclasses.field(
        default=default, metadata={"setting": Setting(flag, help, kind, **rest)}
    )


def settings(spec_class: type) -> dict[str, Setting]:
    """The settings of a dataclass's fields, by field name, in field order."""
    found = {}
    for f in dataclasses.fields(spec_class):
        s = f.metadata.get("setting")
        if s is not None:
            found[f.name] = dataclasses.replace(s, field=f.name, default=f.default)
    return found
