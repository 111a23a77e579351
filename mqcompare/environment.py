"""What a result ran on: the broker and its Erlang, Python, the OS, the CPUs, mqcompare and
every client library of the run, each with its version. A figure without its setup is a
rumour, so every result.json and results.json carries this (`environment`).

The broker's version comes from the broker itself: an AMQP 0-9-1 server sends its
product, version and platform in `Connection.Start`, before any login, so one short
connection asks a private node, a cluster node, a container or an external broker alike,
with no client library."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from mqcompare.amqp import broker_versions, server_properties

__all__ = ["broker_versions", "environment", "server_properties"]


def major_version(version: str) -> int:
    """4 for '4.0.5'; 0 when it says no number (an unknown broker is not refused)."""
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def library_versions(distributions: list[str]) -> dict[str, str]:
    """Each installed distribution's version ('not installed' for a missing one)."""
    found = {}
    for name in dict.fromkeys(distributions):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


@functools.cache
def host() -> dict[str, Any]:
    """Python, the OS and the machine: what does not change within one process."""
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "distribution": _os_release(),
        },
        "machine": platform.machine(),
        "cpus": os.cpu_count() or 0,
        "mqcompare": mqcompare_version(),
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip().strip('"')
    except OSError:
        pass
    return ""


def mqcompare_version() -> dict[str, str]:
    """The installed version and, in a git checkout, the commit (with '+changes' when the
    work tree differs from it)."""
    try:
        version = metadata.version("mqcompare")
    except metadata.PackageNotFoundError:
        version = "unknown"
    found = {"version": version}
    top = Path(__file__).resolve().parent.parent
    if (top / ".git").exists():
        try:
            commit = _git(top, "rev-parse", "--short=12", "HEAD")
            dirty = _git(top, "status", "--porcelain", "--untracked-files=no")
        except (OSError, subprocess.SubprocessError):
            return found
        found["commit"] = commit + ("+changes" if dirty else "")
    return found


def _git(top: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(top), *args], capture_output=True, text=True, timeout=5, check=True
    )
    return done.stdout.strip()


def environment(broker: dict[str, str], distributions: list[str]) -> dict[str, Any]:
    """The `environment` of a result: the broker as it says of itself (`versions()` of a
    broker kind: its product, version and the product's own key, `rabbitmq` or `redis`,
    or the error that kept it from saying), this host, the libraries."""
    said = {k: v for k, v in broker.items() if k not in ("product", "version", "error")}
    version = broker.get("version") or broker.get("error", "")
    if broker.get("product", "RabbitMQ") == "RabbitMQ":
        said["rabbitmq"] = said.get("rabbitmq") or version  # the fixed key of RabbitMQ's
    return {
        **said,
        "broker_product": broker.get("product", ""),
        "broker_version": version,
        "erlang": broker.get("erlang", ""),
        **host(),
        "libraries": library_versions(distributions),
    }


def broker_label(env: dict[str, Any]) -> str:
    """'RabbitMQ 3.10.8 on Erlang 25.3.2.8' (or what could be said of it)."""
    if not env:
        return "broker version not recorded"
    product = env.get("broker_product") or "RabbitMQ"
    erlang = f" on Erlang {env['erlang']}" if env.get("erlang") else ""
    version = env.get("broker_version") or env.get("rabbitmq") or "?"
    return f"{product} {version}{erlang}"
