"""The import contracts of pyproject.toml (``[tool.importlinter]``) hold, and an upward import,
a cycle, a board-to-host import or an unplaced module breaks them.

import-linter runs in a subprocess: grimp finds packages with ``importlib``, which in this process
would resolve ``tinyicenet`` to the already-imported copy instead of the one under test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_CLI = ("import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the tree at ``root`` with its pyproject.toml, no cache written."""
    # the board and shared packages are installed as copies: grimp must read the tree at root's
    path = os.pathsep.join([str(root), str(root / "boards" / "zcu102"),
                            str(root / "boards" / "common")])
    env = dict(os.environ, PYTHONPATH=path, NO_COLOR="1")
    return subprocess.run([sys.executable, "-c", _CLI, str(root / "pyproject.toml"), "--no-cache",
                           "--no-logo"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_contracts_hold() -> None:
    run = _lint(ROOT)
    assert run.returncode == 0, f"import contracts broken:\n{run.stdout}\n{run.stderr}"
    assert "0 broken" in run.stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package, the board and shared packages and pyproject.toml to break on
    purpose."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "tinyicenet", tmp_path / "tinyicenet", ignore=skip)
    for package in ("zcu102/tinyicenet_zcu102", "zcu102/tinyicenet_zcu102_build",
                    "common/tinyicenet_io"):
        shutil.copytree(ROOT / "boards" / package, tmp_path / "boards" / package, ignore=skip)
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


# (file to write, its content, the contract that must break, a line of import-linter's report)
CASES = {
    "upward import": (
        # the CLI imports nothing that reads data, so this breaks the layers and nothing else
        "tinyicenet/data/_upward.py", "from tinyicenet.cli import main\n",
        "tinyicenet layers",
        "tinyicenet.data._upward -> tinyicenet.cli"),
    "cycle between siblings": (
        "tinyicenet/train/_cycle.py", "from tinyicenet.report import render\n",
        "no import cycles between sibling packages or modules",
        "No cycles are allowed in tinyicenet"),
    "board imports host": (
        "boards/zcu102/tinyicenet_zcu102/_host.py", "from tinyicenet.errors import DataError\n",
        "board package independent of the host package",
        "tinyicenet_zcu102._host -> tinyicenet.errors"),
    "host imports board": (
        # the host shares tinyicenet_io with the driver, never the driver's own code
        "tinyicenet/commands/_board.py", "from tinyicenet_zcu102 import power\n",
        "board package independent of the host package",
        "tinyicenet.commands._board -> tinyicenet_zcu102.power"),
    "shared package imports host": (
        "boards/common/tinyicenet_io/_host.py", "from tinyicenet.errors import DataError\n",
        "the shared package imports no tinyicenet code",
        "tinyicenet_io._host -> tinyicenet.errors"),
    "unplaced module": (
        "tinyicenet/_unplaced.py", '"""A new top-level module no layer names."""\n',
        "tinyicenet layers",
        "tinyicenet._unplaced"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_contracts_break(tree: Path, case: str) -> None:
    rel, text, contract, evidence = CASES[case]
    (tree / rel).write_text(text)
    if case == "cycle between siblings":
        # report -> train closes the loop train -> report written above
        render = tree / "tinyicenet" / "report" / "render.py"
        assert render.is_file()
        render.write_text(render.read_text() + "\nfrom tinyicenet.train import scenes  # noqa\n")
    run = _lint(tree)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out
    assert evidence in out, out
    broken = [line.split(" BROKEN")[0] for line in out.splitlines() if " BROKEN" in line]
    assert broken == [contract], out  # and only that one
