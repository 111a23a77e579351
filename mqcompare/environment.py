"""What a result ran on: the broker and its Erlang, Python, the OS, the CPUs, mqcompare and
every client library of the run, each with its version. A figure without its setup is a
rumour, so every result.json and results.json carries this (`environment`).

The broker's version comes from the broker itself: an AMQP 0-9-1 server sends its
product, version and platform in `Connection.Start`, before any login, so one short
connection asks a private node, a cluster node, a container or an external broker alike,
with no client library."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import struct
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mqcompare.amqp import Closed, Connection, NotAmqp


def server_properties(url: str, timeout: float = 3.0) -> dict[str, Any]:
    """The server-properties table of the broker at `url` (OSError, NotAmqp). The
    connection is then opened and closed with the handshake, as any client's, so that the
    broker logs no dropped connection (a run's broker.log is read for those)."""
    conn = Connection(url, timeout)
    try:
        with contextlib.suppress(OSError, NotAmqp, Closed, struct.error):
            conn.login()
    finally:
        conn.close()
    return conn.server


def broker_versions(url: str) -> dict[str, str]:
    """{'product': 'RabbitMQ', 'rabbitmq': '3.10.8', 'erlang': '25.3.2.8'} as the broker
    says; {'error': why} when it cannot be asked (never raises)."""
    try:
        props = server_properties(url)
    except (OSError, NotAmqp, struct.error, IndexError) as exc:
        where = urlsplit(url.split(";")[0])
        return {"error": f"{where.hostname}:{where.port}: {exc or type(exc).__name__}"}
    product = str(props.get("product", ""))
    found = {"product": product, "rabbitmq": str(props.get("version", ""))}
    platform_text = str(props.get("platform", ""))  # "Erlang/OTP 25.3.2.8"
    if platform_text:
        found["erlang"] = platform_text.split("/OTP", 1)[-1].strip() or platform_text
    return found


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


def environment(url: str, distributions: list[str]) -> dict[str, Any]:
    """The `environment` of a result: the broker at `url` (a cluster's first node), this
    host, the libraries."""
    broker = broker_versions(url)
    return {
        "rabbitmq": broker.get("rabbitmq") or broker.get("error", ""),
        "broker_product": broker.get("product", ""),
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
    return f"{product} {env.get('rabbitmq') or '?'}{erlang}"
