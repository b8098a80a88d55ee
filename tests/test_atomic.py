"""Atomic outputs: a finished file or folder appears under its name in one rename, and nothing
that is not an old output of the same kind is ever replaced."""

from __future__ import annotations

import pytest

from tinyicenet.atomic import atomic_dir, atomic_path, check_output_dir, make_dir
from tinyicenet.errors import OutputError
from tinyicenet_io.atomic import replace_dir


def test_atomic_dir_replaces_an_old_folder_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "out"
    (out / "stale").mkdir(parents=True)
    with atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("1")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_dir_failure_keeps_the_old_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("0")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "half.txt").write_text("")
        raise RuntimeError("work failed")
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_file_in_the_way_of_a_folder_is_refused_before_any_work(tmp_path):
    taken = tmp_path / "notes.txt"
    taken.write_text("keep me")
    ran = []
    with pytest.raises(OutputError, match="notes.txt exists and is not a folder"):
        with atomic_dir(taken):
            ran.append(True)
    assert not ran and taken.read_text() == "keep me"
    with pytest.raises(OutputError, match="notes.txt is a file, not a folder"):
        check_output_dir(taken / "sub" / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_replace_dir_never_replaces_a_file(tmp_path):
    """The board build's publishing step (standard library only) refuses, too."""
    staging = tmp_path / "out.partial"
    staging.mkdir()
    out = tmp_path / "out"
    out.write_text("keep me")
    with pytest.raises(NotADirectoryError):
        replace_dir(staging, out)
    assert out.read_text() == "keep me" and staging.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.partial"]


def test_make_dir_names_the_file_in_the_way(tmp_path):
    blocker = tmp_path / "a"
    blocker.write_text("")
    with pytest.raises(OutputError, match=r"cannot create folder .*a/b/c: .*a is a file"):
        make_dir(blocker / "b" / "c")
    assert make_dir(tmp_path / "x" / "y").is_dir()


def test_atomic_path_refuses_a_folder_and_writes_under_a_new_parent(tmp_path):
    with pytest.raises(OutputError, match="is a folder"), atomic_path(tmp_path):
        pass
    target = tmp_path / "new" / "f.txt"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".txt" and tmp.parent == target.parent
        tmp.write_text("x")
    assert target.read_text() == "x"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]
