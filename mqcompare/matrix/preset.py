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
from mqcompare.runner import validate
from mqcompare.spec import SETTINGS, RunSpec, new_run_id
from mqcompare.stacks import STACKS, all_options, load_stack, only_takers

BUILTIN = ("quick", "seed", "full", "cluster", "issues", "rabbitmq4", "redis")
CELL_BROKERS = ("local", "docker", "redis")  # a cell's own broker, beside the matrix's --broker
FLAG = "--preset"

# cell keys: those that may be lists (crossed), the run settings' preset keys (one value
# each, mqcompare.settings; a duration goes to the cell's `timeouts`), the stacks' own
# options, and the cell's own words
_CROSSED = ("stack", "mode", "confirms", "ack", "faults")
_PLURAL = {"stacks": "stack", "modes": "mode", "plans": "faults"}
_SETTINGS = {s.key: s for s in SETTINGS.values() if s.key and s.key not in _CROSSED}
_OPTIONS = tuple(all_options())  # the stacks' own options, each a cell key
CELL_KEYS = (
    *_CROSSED, *_PLURAL, *_SETTINGS, *_OPTIONS, "broker", "docker_image", "claims", "claim", "note",
    "intended",
)  # fmt: skip


@dataclass(frozen=True)
class Claim:
    id: str
    says: str  # the claim, in the words of its source
    source: str  # the write-up, or the documentation it comes from
    expect: tuple[str, ...]  # predicates (claims.PREDICATES) a run must meet to hold it
    why: str = ""  # the mechanism: why it holds or not, for the report
    refs: tuple[str, ...] = ()  # documentation or issue links behind `why`
    # the RabbitMQ versions it speaks of ("4": 4.x only); runs on others do not judge it
    rabbitmq: str = ""
    # the broker it speaks of ("Redis"; "" any): runs on another do not judge it
    broker: str = ""


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
    broker: str = ""  # "" the matrix's --broker; or local, docker, redis: this cell's own
    docker_image: str = ""  # a docker cell's image ("" the default, --docker-image)
    queue: str = "classic"  # the queue type (--queue)
    cluster: int = 1  # nodes of its private broker (--cluster)
    partition_handling: str = "pause_minority"
    clients: str = "spread"
    mandatory: bool | None = None  # None: the library's own default
    poison: int = 0  # message ids every consumer fails (--poison)
    dead_letter: bool = False  # the queue's dead-letter target (--dead-letter)
    redis_persistence: str = "default"  # a private Redis's (--redis-persistence)
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
        """Its run's spec: a cell's field named by a setting's preset key is that setting;
        its durations are in `timeouts`, by spec field."""
        settings: dict[str, Any] = {
            s.field: getattr(self, key) for key, s in _SETTINGS.items() if s.kind != "duration"
        }
        settings.update(self.timeouts)  # the spec's *_timeout_s fields
        return RunSpec(
            stack=self.stack,
            mode=self.mode,
            confirms=self.confirms,
            ack=self.ack,
            faults=tuple(parse_fault(f) for f in self.faults),
            broker=self.broker or "auto",
            run_id=new_run_id(),
            stack_options=dict(self.options),
            **settings,
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
    """A built-in preset by name (BUILTIN) or a preset file by path.
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
    keys = ("id", "says", "source", "expect", "why", "refs", "rabbitmq", "broker")
    _only(raw, keys, f"{where}: claim")
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
        str(raw.get("rabbitmq", "")),
        str(raw.get("broker", "")),
    )


def _expand(raw: dict[str, Any], exp: Experiment, where: str) -> list[Cell]:
    """The cells of one preset entry: every combination of its crossed keys."""
    _only(raw, CELL_KEYS, where)
    if isinstance(raw.get("queue"), list):  # queue types are crossed like stacks
        return [c for q in raw["queue"] for c in _expand({**raw, "queue": q}, exp, where)]
    if isinstance(raw.get("broker"), list):
        return _across_brokers(raw, exp, where)
    if isinstance(raw.get("docker_image"), list):
        # broker versions side by side: the same question (grid row), a column per version
        images = raw["docker_image"]
        return [c for i in images for c in _expand({**raw, "docker_image": i}, exp, where)]
    axes = _axes(raw, where)
    common = _common(raw, axes["stack"], exp, where)
    out: list[Cell] = []
    for stack_name, mode, confirms, ack, plan in itertools.product(*(axes[k] for k in _CROSSED)):
        if stack_name not in STACKS:
            raise BadInput(FLAG, f"{where}: stack {stack_name!r}; allowed: {', '.join(STACKS)}")
        stack = load_stack(stack_name)
        if common.get("broker") == "redis" and "redis" not in stack.protocols:
            raise BadInput(FLAG, f"{where}: {stack_name} does not speak Redis")
        if common.get("mandatory") and stack.no_mandatory and len(axes["stack"]) > 1:
            continue  # a cell shared by several stacks: each that can publish mandatory
        # a protocol that settles every publish runs with confirms (as its RunSpec says)
        confirms = confirms or stack.always_confirms
        for m in _modes_of(stack, mode, len(axes["stack"]) > 1, where):
            cell = _cell(stack_name, m, confirms, ack, plan, common, where)
            question = (where, m if mode == "*" else mode, confirms, ack, plan, raw.get("queue"))
            out.append(dataclasses.replace(cell, group=repr(question)))
    if not out:
        raise BadInput(FLAG, f"{where}: none of its stacks has any of its modes")
    return out


def _across_brokers(raw: dict[str, Any], exp: Experiment, where: str) -> list[Cell]:
    """`broker = ["local", "redis"]`: the entry's cells on each broker, as one question
    (grid row) with a column per broker, in the order given."""
    per = []
    for b in raw["broker"]:
        mine = {**raw, "broker": b}
        if b == "redis":  # Redis refuses them: no confirm to wait for, no exchange
            mine["confirms"] = False
            mine.pop("mandatory", None)
        else:  # and RabbitMQ Redis's
            mine.pop("visibility_timeout", None)
            mine.pop("redis_persistence", None)
        per.append(_expand(mine, exp, where))
    if isinstance(raw.get("confirms"), list) or len({len(cells) for cells in per}) > 1:
        raise BadInput(FLAG, f"{where}: a list of brokers takes one value of confirms")
    groups = [c.group for c in per[0]]
    return [dataclasses.replace(c, group=groups[i]) for cells in per for i, c in enumerate(cells)]


def _axes(raw: dict[str, Any], where: str) -> dict[str, list[Any]]:
    """The crossed keys' values, each a list (a plural key or its singular)."""
    for plural, singular in _PLURAL.items():
        if plural in raw:
            if singular in raw:
                raise BadInput(FLAG, f"{where}: give {plural} or {singular}, not both")
            raw[singular] = raw.pop(plural)
        elif singular in raw:
            raw[singular] = [raw[singular]]  # one value: a list of one
    axes: dict[str, Any] = {k: raw.get(k) for k in _CROSSED}
    # a cell that names no stack is every stack's, except those that need a newer broker
    # than a preset's default one: they run in the cells that name them (and that broker)
    axes["stack"] = axes["stack"] or [s for s in STACKS if not load_stack(s).min_rabbitmq]
    axes["mode"] = axes["mode"] or ["default"]
    for key in ("confirms", "ack"):
        value = axes[key]
        axes[key] = value if isinstance(value, list) else [value]
    axes["faults"] = axes["faults"] or [[]]
    return axes


def _common(raw: dict[str, Any], stacks: list[str], exp: Experiment, where: str) -> dict[str, Any]:
    """What every cell of the entry shares: its settings (each parsed by its Setting),
    durations as `timeouts`, its stacks' options, claims, broker, note, intent."""
    common: dict[str, Any] = {"timeouts": {}, "experiment": exp.id}
    for key, s in _SETTINGS.items():
        if key in raw:
            value = s.from_preset(raw[key], where)
            if s.kind == "duration":
                common["timeouts"][s.field] = value
            else:
                common[key] = value
    common["options"] = {k: raw[k] for k in _OPTIONS if k in raw}
    for key in common["options"]:
        if not set(all_options()[key][1]) & set(stacks):
            raise BadInput(FLAG, f"{where}: {key}: {only_takers(key)}")
    if "broker" in raw:
        if raw["broker"] not in CELL_BROKERS:
            raise BadInput(
                FLAG, f"{where}: broker {raw['broker']!r}; allowed: {', '.join(CELL_BROKERS)}"
            )
        common["broker"] = raw["broker"]
    if "docker_image" in raw:
        if common.get("broker", "docker") != "docker":
            raise BadInput(FLAG, f'{where}: docker_image is for broker = "docker"')
        common["broker"], common["docker_image"] = "docker", str(raw["docker_image"])
    claims = raw.get("claims", raw.get("claim", []))
    common["claims"] = tuple([claims] if isinstance(claims, str) else claims)
    for cid in common["claims"]:
        if cid not in exp.claims:
            raise BadInput(FLAG, f"{where}: claim {cid!r} is not one of experiment {exp.id}'s")
    common["note"] = str(raw.get("note", ""))
    common["intended"] = str(raw.get("intended", ""))
    return common


def _modes_of(stack: Any, mode: str, shared: bool, where: str) -> list[str]:
    """The modes `mode` names for `stack` (default, *, or one); a mode list shared by
    several stacks: each takes the modes it has."""
    modes = (
        [stack.default_mode]
        if mode == "default"
        else (list(stack.modes) if mode == "*" else [mode])
    )
    for m in modes:
        if m not in stack.modes and not shared:
            raise BadInput(
                FLAG,
                f"{where}: {stack.name} has no mode {m!r}; "
                f"allowed: {', '.join(stack.modes)}, default, *",
            )
    return [m for m in modes if m in stack.modes]


def _cell(
    stack: str, mode: str, confirms: Any, ack: Any, plan: Any, common: dict[str, Any], where: str
) -> Cell:
    confirms = False if confirms is None else confirms
    ack = ack or "after"
    for key, value in (("confirms", confirms), ("ack", ack)):
        SETTINGS[key].from_preset(value, where)
    if not isinstance(plan, list) or not all(isinstance(f, str) for f in plan):
        raise BadInput(FLAG, f'{where}: faults is a list like ["restart@1s:2s"]')
    try:
        for f in plan:
            parse_fault(f)
        # a cell shared by several stacks: each takes the options it has
        options = load_stack(stack).option_values(common["options"], by_key=True)
        cell = Cell(
            id="", stack=stack, mode=mode, confirms=confirms, ack=ack, faults=tuple(plan),
            **{**common, "options": options},
        )  # fmt: skip
        validate(cell.spec())  # the runner's own checks of mode and faults
    except BadInput as exc:
        raise BadInput(FLAG, f"{where}: {exc}") from None
    return cell


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
