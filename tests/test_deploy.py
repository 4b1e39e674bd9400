"""The systemd unit and settings file in deploy/ start `serve` the way README.md says."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from service.cli import build_parser
from service.settings import Settings
from tests.helpers import TICKET_AUDIT

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNIT = DEPLOY / "ticket-audit@.service"
ENV_FILE = DEPLOY / "ticket-audit.env"
SETTINGS = {f"TICKET_AUDIT_{name.upper()}" for name in Settings.model_fields}
# What `%i` stands for once instantiated (`ticket-audit@8081`).
INSTANCE = "8081"


def unit() -> configparser.ConfigParser:
    # Strict: a key given twice would fail here rather than silently keep the last value.
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def assignments(lines: str) -> dict[str, str]:
    """NAME=VALUE pairs of an EnvironmentFile or Environment= line (comments skipped)."""
    pairs = {}
    for word in shlex.split(lines, comments=True):
        name, _, value = word.partition("=")
        pairs[name] = value
    return pairs


def test_the_unit_runs_serve_with_options_it_accepts() -> None:
    argv = shlex.split(unit()["Service"]["ExecStart"].replace("%i", INSTANCE))

    assert Path(argv[0]).name == "ticket-audit"
    assert argv[1] == "serve"
    arguments = build_parser().parse_args(argv[1:])
    assert arguments.port == int(INSTANCE)


def test_the_unit_sets_only_settings_that_exist_and_hold() -> None:
    service = unit()["Service"]
    environment = assignments(service["Environment"])
    shared = assignments(ENV_FILE.read_text())

    assert set(environment) <= SETTINGS
    assert set(shared) <= SETTINGS
    assert Path(service["EnvironmentFile"].lstrip("-")).name == ENV_FILE.name
    # Every value parses as a setting, and the tokens are all set, as serving beyond
    # loopback (through a proxy) needs.
    values = {name.removeprefix("TICKET_AUDIT_").lower(): v for name, v in shared.items()}
    values.update({n.removeprefix("TICKET_AUDIT_").lower(): v for n, v in environment.items()})
    settings = Settings.model_validate(values)
    assert settings.unset_tokens() == []
    assert settings.database.kind == "postgres"


def test_the_unit_restarts_on_failure_but_not_on_a_wrong_setting() -> None:
    service = unit()["Service"]

    assert service["Restart"] in ("on-failure", "always")
    # Exit 2: a setting or the log's place is wrong; restarting cannot fix it.
    assert "2" in service["RestartPreventExitStatus"].split()


def test_the_unit_runs_as_its_own_user_and_starts_at_boot() -> None:
    parsed = unit()
    service = parsed["Service"]

    assert service.get("User", "root") not in ("root", "0", "")
    assert service.get("Group", "root") not in ("root", "0", "")
    assert service["NoNewPrivileges"] == "yes"
    assert "network-online.target" in parsed["Unit"]["After"].split()
    assert parsed["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_reads_every_line_of_the_unit(tmp_path: Path) -> None:
    # systemd ignores what it cannot parse with a warning and exit 0: any output is a fault.
    instance = tmp_path / f"ticket-audit@{INSTANCE}.service"
    exec_start = shlex.split(unit()["Service"]["ExecStart"])[0]
    instance.write_text(UNIT.read_text().replace(exec_start, TICKET_AUDIT))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(instance)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (result.returncode, result.stdout + result.stderr) == (0, "")
