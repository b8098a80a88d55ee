"""The one commit helper: a real git repository, clean, dirty, results-only changes, no git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tinyicenet.bench import sysinfo


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("no git")
    _git(tmp_path, "init", "-q")
    (tmp_path / "bench" / "results").mkdir(parents=True)
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "bench" / "results" / "r.json").write_text("{}\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    monkeypatch.setattr(sysinfo, "_REPO", tmp_path)
    monkeypatch.delenv("TINYICENET_COMMIT", raising=False)
    return tmp_path


def test_clean_dirty_and_results_only(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sha = _git(repo, "rev-parse", "--short=12", "HEAD")
    assert sysinfo.source_state() == sysinfo.SourceState(sha, True)
    assert sysinfo.commit() == sha
    # a copied tree inside this checkout names its own commit: the variable wins over git
    monkeypatch.setenv("TINYICENET_COMMIT", "fedcba987654")
    assert sysinfo.source_state() == sysinfo.SourceState("fedcba987654", None)
    monkeypatch.delenv("TINYICENET_COMMIT")
    # a result written by an earlier record of the batch leaves the code clean
    (repo / "bench" / "results" / "r.json").write_text('{"a": 1}\n')
    assert sysinfo.commit() == sha
    (repo / "code.py").write_text("x = 2\n")
    assert sysinfo.source_state().to_dict() == {"commit": sha, "clean": False}
    assert sysinfo.commit() == f"{sha}+dirty"


def test_outside_a_checkout_the_environment_names_it(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysinfo, "_REPO", tmp_path)  # no .git here nor above (tmp)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.setenv("TINYICENET_COMMIT", "abc123")
    assert sysinfo.source_state() == sysinfo.SourceState("abc123", None)
    assert sysinfo.commit() == "abc123"
    monkeypatch.delenv("TINYICENET_COMMIT")
    assert sysinfo.commit() is None
