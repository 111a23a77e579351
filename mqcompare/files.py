"""Files written whole or not at all: a crash mid-write leaves the previous version."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

# a matrix rewrites its results.json (hundreds of kB) after every run: orjson writes it
# in a tenth of the time `json` takes
OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(data, option=OPTIONS) + b"\n")
    os.replace(tmp, path)
