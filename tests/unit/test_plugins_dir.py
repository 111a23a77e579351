"""A private node's plugins directory holds the applications the broker runs, found from
their .app files, and nothing else (brokers/plugins.py)."""

from __future__ import annotations

from pathlib import Path

from mqcompare.brokers.plugins import core_only, installed_plugins


def _app(plugins: Path, name: str, version: str, requires: list[str]) -> None:
    ebin = plugins / f"{name}-{version}" / "ebin"
    ebin.mkdir(parents=True)
    (ebin / f"{name}.app").write_text(
        f'{{application, {name}, [{{vsn, "{version}"}},\n'
        f" {{applications, [kernel, stdlib, {', '.join(requires)}]}}]}}.\n"
    )


def _installation(tmp_path: Path) -> Path:
    plugins = tmp_path / "rabbitmq_server-3.10.8" / "plugins"
    _app(plugins, "rabbit", "3.10.8", ["rabbit_common", "ra", "rabbitmq_prelaunch"])
    _app(plugins, "rabbit_common", "3.10.8", ["credentials_obfuscation"])
    _app(plugins, "rabbitmq_prelaunch", "3.10.8", ["rabbit_common", "cuttlefish"])
    _app(plugins, "ra", "2.0.13", ["gen_batch_server", "aten"])
    for name in ("credentials_obfuscation", "cuttlefish", "gen_batch_server", "aten"):
        _app(plugins, name, "1.0.0", [])
    _app(plugins, "rabbitmq_management", "3.10.8", ["rabbit", "cowboy"])
    _app(plugins, "cowboy", "2.8.0", [])
    return plugins


def test_only_what_rabbit_requires_is_linked(tmp_path: Path) -> None:
    plugins = _installation(tmp_path)
    made = core_only(plugins, tmp_path / "node" / "plugins")
    assert made is not None
    linked = sorted(p.name for p in made.iterdir())
    assert linked == sorted(
        f"{n}-{v}"
        for n, v in [
            ("rabbit", "3.10.8"),
            ("rabbit_common", "3.10.8"),
            ("rabbitmq_prelaunch", "3.10.8"),
            ("ra", "2.0.13"),
            ("credentials_obfuscation", "1.0.0"),
            ("cuttlefish", "1.0.0"),
            ("gen_batch_server", "1.0.0"),
            ("aten", "1.0.0"),
        ]
    )
    assert (made / "ra-2.0.13").resolve() == (plugins / "ra-2.0.13").resolve()


def test_an_unexpected_installation_keeps_its_own_directory(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    _app(plugins, "something_else", "1.0.0", [])
    assert core_only(plugins, tmp_path / "node-plugins") is None


def test_the_installed_directory_is_found_from_the_scripts(tmp_path: Path) -> None:
    plugins = _installation(tmp_path)
    sbin = plugins.parent / "sbin"
    sbin.mkdir()
    (sbin / "rabbitmq-server").write_text("#!/bin/sh\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rabbitmq-server").symlink_to(sbin / "rabbitmq-server")
    assert installed_plugins(bin_dir) == plugins
    assert installed_plugins(tmp_path / "nowhere") is None
