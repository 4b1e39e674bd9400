"""`make run` installs what running needs; `make test` adds the test tools, also after run."""

from __future__ import annotations

import configparser
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_TOOLS = ("pytest", "mypy", "ruff", "schemathesis", "hypothesis")


def planned(target: str, venv: Path) -> str:
    """What `make TARGET` would run with its virtualenv at `venv` (`make -n` runs nothing)."""
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def stamp(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    newer = (ROOT / "setup.cfg").stat().st_mtime + 10
    os.utime(path, (newer, newer))


def test_make_run_installs_no_test_tools(tmp_path: Path) -> None:
    plan = planned("run", tmp_path / "venv")

    assert "pip install --quiet -e .\n" in plan
    assert "[test]" not in plan


def test_make_test_after_make_run_installs_the_test_extra(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    stamp(venv / ".installed-run")

    assert "pip install" not in planned("run", venv)
    assert "pip install --quiet -e '.[test]'" in planned("test", venv)

    stamp(venv / ".installed-test")
    assert "pip install" not in planned("test", venv)


def test_running_needs_none_of_the_test_tools() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    requirements = setup["options"]["install_requires"].split()
    test_extra = setup["options.extras_require"]["test"].split()

    assert not [name for name in requirements if name.lower().startswith(TEST_TOOLS)]
    assert all(any(line.startswith(tool) for line in test_extra) for tool in TEST_TOOLS)
