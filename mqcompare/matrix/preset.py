"""Presets: matrices of runs as data files (TOML), with the claims each cell tests.

A preset lists experiments; each experiment states its question, its protocol, the
claims under test (the write-up's, or a library's documentation's), and cells. A cell
names stack(s), mode(s), confirms, ack policy, fault plan(s) and sizes; any of stacks,
modes, confirms, ack and plans may be a list, and the cell expands to every combination;
a stack's own options (e.g. celery's `acks_late`) are keys of the cell too.
`mqcompare matrix --preset FILE.toml` runs a user's own file the same way.
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mqcompare.errors import BadInput
from mqcompare.faults.plan import parse_fault
from mqcompare.matrix.claims import PREDICATES, parse_predicate
from mqcompare.spec import ACK_MODES, RunSpec, new_run_id
from mqcompare.stacks import STACKS, all_options, load_stack, only_takers
from mqcompare.units import parse_duration

BUILTIN = ("quick", "seed", "full", "cluster", "issues")
CELL_BROKERS = ("local", "docker")  # a cell's own broker, beside the matrix's --broker
FLAG = "--preset"

# cell keys: those that may be lists (crossed) and those that are single values
_CROSSED = ("stack", "mode", "confirms", "ack", "faults")
_PLURAL = {"stacks": "stack", "modes": "mode", "plans": "faults"}
_SIZES = {"producers": int, "messages": int, "rate": float, "work_ms": float, "prefetch": int}
_DURATIONS = {
    "stall_timeout": "stall_timeout_s",
    "drain_timeout": "drain_timeout_s",
    "retry_budget": "retry_budget_s",
    "publish_timeout": "publish_timeout_s",
    "consumer_timeout": "consumer_timeout_s",
}
_OPTIONS = tuple(all_options())  # the stacks' own options, each a cell key
CELL_KEYS = (
    *_CROSSED,
    *_PLURAL,
    *_SIZES,
    *_DURATIONS,
    *_OPTIONS,
    "consume",
    "broker",
    "queue",
    "cluster",
    "partition_handling",
    "clients",
    "mandatory",
    "claims",
    "claim",
    "note",
    "intended",
)


@dataclass(frozen=True)
class Claim:
    id: str
    says: str  # the claim, in the words of its source
    source: str  # the write-up, or the documentation it comes from
    expect: tuple[str, ...]  # predicates (claims.PREDICATES) a run must meet to hold it
    why: str = ""  # the mechanism: why it holds or not, for the report
    refs: tuple[str, ...] = ()  # documentation or issue links behind `why`


@dataclass(frozen=True)
class Cell:
    id: str
    experiment: str
    stack: str
    mode: str
    confirms: bool = False
    ack: str = "after"
    options: dict[str, Any] = field(default_factory=dict)  # the stack's own (StackOption)
    faults: tuple[str, ...] = ()
    producers: int = 10
    messages: int = 1000
    rate: float = 0.0
    work_ms: float = 0.0
    prefetch: int = 100
    consume: str = "during"
    broker: str = ""  # "" the matrix's --broker; or local, docker: this cell's own
    queue: str = "classic"  # the queue type (--queue)
    cluster: int = 1  # nodes of its private broker (--cluster)
    partition_handling: str = "pause_minority"
    clients: str = "spread"
    mandatory: bool | None = None  # None: the library's own default
    timeouts: dict[str, float] = field(default_factory=dict)
    claims: tuple[str, ...] = ()
    note: str = ""
    # what the cell sets out to show when messages do not arrive ("dead-lettered"): the
    # outcome is then intended, not a loss (mqcompare.outcome)
    intended: str = ""
    # the question it answers: the cells of one preset entry that differ only in stack
    # share it (a row of the answer grid)
    group: str = ""

    def spec(self) -> RunSpec:
        timeouts: dict[str, Any] = dict(self.timeouts)  # the spec's *_timeout_s fields
        return RunSpec(
            stack=self.stack,
            mode=self.mode,
            producers=self.producers,
            messages=self.messages,
            confirms=self.confirms,
            rate=self.rate,
            prefetch=self.prefetch,
            faults=tuple(parse_fault(f) for f in self.faults),
            ack=self.ack,
            consume=self.consume,
            broker=self.broker or "auto",
            queue_type=self.queue,
            cluster=self.cluster,
            partition_handling=self.partition_handling,
            clients=self.clients,
            mandatory=self.mandatory,
            run_id=new_run_id(),
            stack_options={"consumer_work_ms": self.work_ms, **self.options},
            **timeouts,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_CELL_FIELDS = {f.name for f in dataclasses.fields(Cell)} - {"faults", "claims", "options"}


@dataclass(frozen=True)
class Experiment:
    id: str
    title: str
    question: str
    protocol: str
    claims: dict[str, Claim]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "claims": [asdict(c) for c in self.claims.values()]}


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    source: str
    experiments: dict[str, Experiment]
    cells: tuple[Cell, ...]

    def only_stacks(self, stacks: list[str]) -> Preset:
        return dataclasses.replace(self, cells=tuple(c for c in self.cells if c.stack in stacks))

    def only_experiments(self, ids: list[str]) -> Preset:
        kept = [k for k in self.experiments if k in ids]
        return dataclasses.replace(
            self,
            title=f"{self.title}: experiment {', '.join(kept)} only",
            description=f"Experiment {', '.join(kept)} only, of: {self.description}",
            experiments={k: e for k, e in self.experiments.items() if k in ids},
            cells=tuple(c for c in self.cells if c.experiment in ids),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "source": self.source,
            "experiments": [e.to_json() for e in self.experiments.values()],
            "cells": [c.to_json() for c in self.cells],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preset:
        """The preset a results.json recorded (the report is rebuilt from it alone)."""
        experiments = {
            e["id"]: Experiment(
                e["id"],
                e["title"],
                e["question"],
                e["protocol"],
                {
                    c["id"]: Claim(
                        **{**c, "expect": tuple(c["expect"]), "refs": tuple(c.get("refs", ()))}
                    )
                    for c in e["claims"]
                },
            )
            for e in data["experiments"]
        }
        cells = tuple(
            Cell(
                **{k: v for k, v in c.items() if k in _CELL_FIELDS},
                faults=tuple(c["faults"]),
                claims=tuple(c["claims"]),
                # a results.json from before stack options kept them under the stack's name
                options=c.get("options", c.get(c["stack"], {})),
            )
            for c in data["cells"]
        )
        return cls(
            data["name"], data["title"], data["description"], data["source"], experiments, cells
        )


def load_preset(name_or_path: str) -> Preset:
    """A built-in preset by name (quick, seed, full, cluster, issues) or a preset file by path.
    Its `base` lends it experiment texts; its `include` adds whole built-in presets."""
    data, source = _read(name_or_path)
    includes = data.pop("include", [])
    base = data.pop("base", None)
    if base is not None:
        # the bases' experiments (question, protocol, claims) without their cells; this
        # file's experiments override their texts, add claims, and bring the cells
        inherited = {}
        for name in base if isinstance(base, list) else [base]:
            if name not in BUILTIN:
                raise BadInput(FLAG, f"{source}: base {name!r}; allowed: {', '.join(BUILTIN)}")
            inherited.update({e["id"]: e for e in _read(name)[0].get("experiments", [])})
        merged = []
        for exp in data.get("experiments", []):
            parent = inherited.get(str(exp.get("id")), {})
            claims = {c["id"]: c for c in parent.get("claims", [])}
            claims.update({c.get("id"): c for c in exp.get("claims", [])})
            merged.append({**parent, **exp, "claims": list(claims.values())})
        data["experiments"] = merged
    preset = parse_preset(data, source)
    for name in includes if isinstance(includes, list) else [includes]:
        # a built-in preset's experiments, whole (texts, claims and cells), after this one's
        if name not in BUILTIN or name == preset.name:
            raise BadInput(FLAG, f"{source}: include {name!r}; allowed: {', '.join(BUILTIN)}")
        other = load_preset(name)
        preset = dataclasses.replace(
            preset,
            experiments={**preset.experiments, **other.experiments},
            cells=preset.cells + other.cells,
        )
    return preset


def _read(name_or_path: str) -> tuple[dict[str, Any], str]:
    if name_or_path in BUILTIN:
        text = (
            resources.files("mqcompare.matrix.presets").joinpath(f"{name_or_path}.toml").read_text()
        )
        source = f"built-in preset {name_or_path}"
    else:
        path = Path(name_or_path)
        if path.suffix != ".toml" or not path.is_file():
            raise BadInput(
                FLAG,
                f"{name_or_path!r} is neither a built-in preset ({', '.join(BUILTIN)}) "
                f"nor a .toml file",
            )
        text, source = path.read_text(), str(path)
    try:
        return tomllib.loads(text), source
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(FLAG, f"{source} is not valid TOML: {exc}") from None


def parse_preset(data: dict[str, Any], source: str) -> Preset:
    where = source
    _only(data, ("name", "title", "description", "defaults", "experiments"), where)
    defaults = data.get("defaults", {})
    _only(defaults, CELL_KEYS, f"{where}: [defaults]")
    experiments: dict[str, Experiment] = {}
    cells: list[Cell] = []
    for i, exp in enumerate(_list(data, "experiments", where), 1):
        ewhere = f"{where}: experiment {exp.get('id', i)}"
        _only(exp, ("id", "title", "question", "protocol", "claims", "cells"), ewhere)
        exp_id = str(_need(exp, "id", ewhere))
        if exp_id in experiments:
            raise BadInput(FLAG, f"{ewhere}: id {exp_id!r} is used twice")
        claims: dict[str, Claim] = {}
        for claim in _list(exp, "claims", ewhere):
            parsed = _claim(claim, ewhere)
            claims[parsed.id] = parsed
        experiments[exp_id] = Experiment(
            exp_id,
            str(exp.get("title", f"Experiment {exp_id}")),
            str(exp.get("question", "")),
            str(exp.get("protocol", "")),
            claims,
        )
        for j, raw in enumerate(_list(exp, "cells", ewhere), 1):
            # a cell's key overrides the defaults' key in either spelling (stack/stacks...)
            inherited = {k: v for k, v in defaults.items() if not set(_spellings(k)) & set(raw)}
            cells += _expand({**inherited, **raw}, experiments[exp_id], f"{ewhere}, cell {j}")
    if not cells:
        raise BadInput(FLAG, f"{where} has no cells")
    seen: dict[str, int] = {}  # cells are numbered within their experiment: 1.01, 1.02...
    numbered = []
    for c in cells:
        seen[c.experiment] = seen.get(c.experiment, 0) + 1
        numbered.append(Cell(**{**asdict(c), "id": f"{c.experiment}.{seen[c.experiment]:02d}"}))
    return Preset(
        str(data.get("name", Path(source).stem)),
        str(data.get("title", data.get("name", "mqcompare matrix"))),
        str(data.get("description", "")),
        source,
        experiments,
        tuple(numbered),
    )


def _spellings(key: str) -> tuple[str, ...]:
    pairs = [*_PLURAL.items(), ("claims", "claim")]
    for plural, singular in pairs:
        if key in (plural, singular):
            return plural, singular
    return (key,)


def _claim(raw: dict[str, Any], where: str) -> Claim:
    _only(raw, ("id", "says", "source", "expect", "why", "refs"), f"{where}: claim")
    cid = str(_need(raw, "id", f"{where}: claim"))
    expect = tuple(_need(raw, "expect", f"{where}: claim {cid}"))
    for pred in expect:
        try:
            parse_predicate(pred)
        except ValueError as exc:
            raise BadInput(
                FLAG, f"{where}: claim {cid}: {exc}; allowed: {', '.join(PREDICATES)}"
            ) from None
    return Claim(
        cid,
        str(raw.get("says", "")),
        str(raw.get("source", "")),
        expect,
        str(raw.get("why", "")),
        tuple(raw.get("refs", ())),
    )


def _expand(raw: dict[str, Any], exp: Experiment, where: str) -> list[Cell]:
    _only(raw, CELL_KEYS, where)
    if isinstance(raw.get("queue"), list):  # queue types are crossed like stacks
        return [c for q in raw["queue"] for c in _expand({**raw, "queue": q}, exp, where)]
    for plural, singular in _PLURAL.items():
        if plural in raw:
            if singular in raw:
                raise BadInput(FLAG, f"{where}: give {plural} or {singular}, not both")
            raw[singular] = raw.pop(plural)
        elif singular in raw:
            raw[singular] = [raw[singular]]  # one value: a list of one
    axes: dict[str, Any] = {k: raw.get(k) for k in _CROSSED}
    axes["stack"] = axes["stack"] or [*STACKS]
    axes["mode"] = axes["mode"] or ["default"]
    for key in ("confirms", "ack"):
        value = axes[key]
        axes[key] = value if isinstance(value, list) else [value]
    axes["faults"] = axes["faults"] or [[]]
    claims = raw.get("claims", raw.get("claim", []))
    claims = [claims] if isinstance(claims, str) else list(claims)
    for cid in claims:
        if cid not in exp.claims:
            raise BadInput(FLAG, f"{where}: claim {cid!r} is not one of experiment {exp.id}'s")
    sizes = {k: _number(raw, k, t, where) for k, t in _SIZES.items() if k in raw}
    options = {k: raw[k] for k in _OPTIONS if k in raw}
    for key in options:
        if not set(all_options()[key][1]) & set(axes["stack"]):
            raise BadInput(FLAG, f"{where}: {key}: {only_takers(key)}")
    if "consume" in raw:  # checked with the rest of the spec by validate() below
        sizes["consume"] = str(raw["consume"])
    for key in ("queue", "partition_handling", "clients"):  # checked by validate() below
        if key in raw:
            sizes[key] = str(raw[key])
    if "cluster" in raw:
        sizes["cluster"] = raw["cluster"]
    if "mandatory" in raw:
        if not isinstance(raw["mandatory"], bool):
            raise BadInput(FLAG, f"{where}: mandatory must be true or false")
        sizes["mandatory"] = raw["mandatory"]
    if "broker" in raw:
        if raw["broker"] not in CELL_BROKERS:
            raise BadInput(
                FLAG, f"{where}: broker {raw['broker']!r}; allowed: {', '.join(CELL_BROKERS)}"
            )
        sizes["broker"] = raw["broker"]
    timeouts = {
        attr: parse_duration(str(raw[key]), f"{FLAG} {where}: {key}")
        for key, attr in _DURATIONS.items()
        if key in raw
    }
    out: list[Cell] = []
    for stack_name, mode, confirms, ack, plan in itertools.product(*(axes[k] for k in _CROSSED)):
        if stack_name not in STACKS:
            raise BadInput(FLAG, f"{where}: stack {stack_name!r}; allowed: {', '.join(STACKS)}")
        stack = load_stack(stack_name)
        if sizes.get("mandatory") and stack.no_mandatory and len(axes["stack"]) > 1:
            continue  # a cell shared by several stacks: each that can publish mandatory
        modes = (
            [stack.default_mode]
            if mode == "default"
            else (list(stack.modes) if mode == "*" else [mode])
        )
        for m in modes:
            if m not in stack.modes:
                # a mode list shared by several stacks: each takes the modes it has
                if len(axes["stack"]) > 1:
                    continue
                raise BadInput(
                    FLAG,
                    f"{where}: {stack_name} has no mode {m!r}; "
                    f"allowed: {', '.join(stack.modes)}, default, *",
                )
            cell = _cell(
                stack_name,
                m,
                confirms,
                ack,
                options,
                plan,
                exp,
                sizes,
                timeouts,
                claims,
                str(raw.get("note", "")),
                where,
            )
            question = (where, m if mode == "*" else mode, confirms, ack, plan, raw.get("queue"))
            out.append(
                dataclasses.replace(
                    cell, group=repr(question), intended=str(raw.get("intended", ""))
                )
            )
    if not out:
        raise BadInput(FLAG, f"{where}: none of its stacks has any of its modes")
    return out


def _cell(
    stack: str,
    mode: str,
    confirms: Any,
    ack: Any,
    options: dict[str, Any],
    plan: Any,
    exp: Experiment,
    sizes: dict[str, Any],
    timeouts: dict[str, float],
    claims: list[str],
    note: str,
    where: str,
) -> Cell:
    confirms = False if confirms is None else confirms
    if not isinstance(confirms, bool):
        raise BadInput(FLAG, f"{where}: confirms must be true or false, got {confirms!r}")
    ack = ack or "after"
    if ack not in ACK_MODES:
        raise BadInput(FLAG, f"{where}: ack {ack!r}; allowed: {', '.join(ACK_MODES)}")
    # a cell shared by several stacks: each takes the options it has
    try:
        options = load_stack(stack).option_values(options, by_key=True)
    except BadInput as exc:
        raise BadInput(FLAG, f"{where}: {exc}") from None
    if not isinstance(plan, list) or not all(isinstance(f, str) for f in plan):
        raise BadInput(FLAG, f'{where}: faults is a list like ["restart@1s:2s"]')
    for f in plan:
        try:
            parse_fault(f)
        except BadInput as exc:
            raise BadInput(FLAG, f"{where}: {exc}") from None
    cell = Cell(
        id="",
        experiment=exp.id,
        stack=stack,
        mode=mode,
        confirms=confirms,
        ack=ack,
        options=options,
        faults=tuple(plan),
        timeouts=timeouts,
        claims=tuple(claims),
        note=note,
        **sizes,
    )
    from mqcompare.runner import validate  # the runner's own checks of mode and faults

    try:
        validate(cell.spec())
    except BadInput as exc:
        raise BadInput(FLAG, f"{where}: {exc}") from None
    return cell


def _number(raw: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise BadInput(FLAG, f"{where}: {key} must be a number of 0 or more, got {value!r}")
    if kind is int and (not isinstance(value, int) or value < 1):
        raise BadInput(FLAG, f"{where}: {key} must be a whole number of at least 1")
    return kind(value)


def _only(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise BadInput(FLAG, f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")


def _need(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise BadInput(FLAG, f"{where}: {key!r} is missing")
    return table[key]


def _list(table: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadInput(FLAG, f"{where}: {key} must be an array of tables ([[{key}]])")
    return value
