"""The deployment files stay true: the systemd units of etc/systemd/ parse
and run each service with its config file, and the settings of
docs/deploy.md are accepted by the services they are for."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from twisted.python import usage

from logship.archie.tap import Options as ArchieOptions
from logship.buck.tap import Options as BuckOptions
from logship.plumbing.config import ConfigOptions, declared_options
from logship.porter.tap import Options as PorterOptions
from logship.tailer.tap import Options as TailerOptions

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "etc" / "systemd"
OPTIONS: dict[str, type[ConfigOptions]] = {
    "tailer": TailerOptions,
    "buck": BuckOptions,
    "porter": PorterOptions,
    "archie": ArchieOptions,
}
#: Where the units expect the virtualenv's twistd.
TWISTD = "/opt/logship/bin/twistd"
REQUIRED = {
    "Unit": {"Description", "After"},
    "Service": {
        "ExecStart",
        "User",
        "StateDirectory",
        "ProtectSystem",
        "ReadWritePaths",
        "ProtectHome",
        "NoNewPrivileges",
        "PrivateTmp",
        "RestrictAddressFamilies",
    },
    "Install": {"WantedBy"},
}


def unit(service: str) -> configparser.ConfigParser:
    """
    The unit of C{service}, parsed (keys keep their case; a key given
    twice keeps the last value).
    """
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / f"logship-{service}.service").read_text(encoding="utf-8"))
    return parser


def test_one_unit_per_service() -> None:
    """
    etc/systemd/ holds a unit for each of the four services, and nothing else.
    """
    assert sorted(p.name for p in UNITS.iterdir()) == sorted(
        f"logship-{s}.service" for s in OPTIONS
    )


@pytest.mark.parametrize("service", sorted(OPTIONS))
def test_unit_keys(service: str) -> None:
    """
    Each unit has the keys a hardened service needs (archie, which has no
    state of its own, needs no state directory), the state directory is
    the writable path, and only the tailer reloads, with SIGHUP.
    """
    parsed = unit(service)
    for section, keys in REQUIRED.items():
        if service == "archie":
            keys = keys - {"StateDirectory"}
        assert keys <= set(parsed[section]), (section, keys - set(parsed[section]))
    assert parsed["Service"]["ProtectSystem"] == "strict"
    assert parsed["Service"]["NoNewPrivileges"] == "yes"
    if service != "archie":
        state = parsed["Service"]["StateDirectory"]
        assert f"/var/lib/{state}" in parsed["Service"]["ReadWritePaths"].split()
    reload = parsed["Service"].get("ExecReload")
    assert reload == ("/bin/kill -HUP $MAINPID" if service == "tailer" else None)


@pytest.mark.parametrize("service", sorted(OPTIONS))
def test_exec_start(service: str) -> None:
    """
    ExecStart runs the service's twistd plugin in the foreground, without a
    pid file, with its config file in /etc/logship/, and every option it
    gives is one the service knows.
    """
    argv = shlex.split(unit(service)["Service"]["ExecStart"])
    assert argv[:4] == [TWISTD, "-n", "--pidfile=", f"logship-{service}"]
    options = argv[4:]
    assert options[:2] == ["--config", f"/etc/logship/{service}.toml"]
    known = set(declared_options(OPTIONS[service]())) | {"config"}
    given = {o[2:].split("=")[0] for o in options if o.startswith("--")}
    assert given <= known


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_verifies_units(tmp_path: Path) -> None:
    """
    systemd-analyze verify accepts the units without a word (an unknown
    key is only a warning to it: any output fails), with twistd taken
    from this virtualenv.
    """
    twistd = Path(sys.executable).parent / "twistd"
    for path in UNITS.iterdir():
        text = path.read_text(encoding="utf-8").replace(TWISTD, str(twistd))
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def deploy_settings() -> dict[str, str]:
    """
    The TOML blocks of docs/deploy.md, by service (their first line names
    the file: C{# /etc/logship/SERVICE.toml}).
    """
    page = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    blocks = {}
    for block in re.findall(r"^```toml\n(.*?)^```", page, re.M | re.S):
        match = re.match(r"# /etc/logship/(\w+)\.toml\n", block)
        assert match is not None, block
        blocks[match.group(1)] = block
    return blocks


def test_deploy_page_sets_every_service() -> None:
    """
    docs/deploy.md gives the settings of each service.
    """
    assert sorted(deploy_settings()) == sorted(OPTIONS)


@pytest.mark.parametrize("service", sorted(OPTIONS))
def test_deploy_settings_accepted(service: str) -> None:
    """
    Each setting of docs/deploy.md's config file is one its service knows,
    with a value of the right type (applied as C{--config} applies it;
    files are not opened).
    """
    path = Path(f"/etc/logship/{service}.toml")
    table = tomllib.loads(deploy_settings()[service])
    options = OPTIONS[service]()
    try:
        options.apply_config(path, table)
    except usage.UsageError as e:
        pytest.fail(str(e))
    for key in table:
        assert key.replace("_", "-") in set(declared_options(options)) | {"files"}
