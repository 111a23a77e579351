"""A private node's plugins directory: the installation's, with only the applications the
broker itself runs (`rabbit`, its prelaunch and what their .app files require).

A node enables no plugin here, but at boot it reads every application in its plugins
directory: Debian's RabbitMQ 3.10 ships 70, of which 20 run. With only those, a node
boots in 3.8-4.3 s instead of 5.3-6.0 s on this machine (measured one after another, 3
boots each), and a matrix boots five of them at once on 2 cores. What runs, and so what
a run measures, is the same: the same applications from the same files."""

from __future__ import annotations

import re
from pathlib import Path

ROOTS = ("rabbit", "rabbitmq_prelaunch", "rabbit_common")
_REQUIRED = re.compile(r"\{\s*(?:included_)?applications\s*,\s*\[([^\]]*)\]", re.S)


def installed_plugins(scripts: Path) -> Path | None:
    """The plugins directory of the installation whose rabbitmq-server is in `scripts`."""
    home = (scripts / "rabbitmq-server").resolve().parent.parent
    plugins = home / "plugins"
    return plugins if plugins.is_dir() else None


def core_only(installed: Path, into: Path) -> Path | None:
    """`into`, holding a link to each application the broker runs; None (the installed
    directory is to be used) where the installation does not look as expected."""
    apps = {_name(d): d for d in installed.iterdir() if d.is_dir()}
    needed: set[str] = set()
    todo = list(ROOTS)
    while todo:
        app = todo.pop()
        if app in needed or app not in apps:
            continue
        needed.add(app)
        todo.extend(_requires(apps[app], app))
    if not set(ROOTS) <= needed:
        return None
    into.mkdir(parents=True, exist_ok=True)
    for app in needed:
        link = into / apps[app].name
        if not link.exists():
            link.symlink_to(apps[app])
    return into


def _name(app_dir: Path) -> str:
    """rabbit_common-3.10.8 -> rabbit_common."""
    return re.sub(r"-\d.*$", "", app_dir.name)


def _requires(app_dir: Path, app: str) -> list[str]:
    """The applications `app`'s .app file requires (OTP's own are not in the directory,
    and are skipped by the caller)."""
    spec = app_dir / "ebin" / f"{app}.app"
    try:
        text = spec.read_text(errors="replace")
    except OSError:
        return []
    return [
        name.strip()
        for group in _REQUIRED.findall(text)
        for name in group.split(",")
        if name.strip()
    ]
