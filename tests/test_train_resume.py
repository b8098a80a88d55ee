"""Resuming continues exactly: interrupted + resumed training equals uninterrupted training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tinyicenet.train import load_config, resume_config, run_training

TINY = ["model.widths=[4, 8]", "data.patch=16", "train.batch=4", "train.steps_per_epoch=3",
        "train.threads=1", "train.device=cpu", "data.val_count=1", "eval.tile=64",
        "eval.halo=8"]


def _state(path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def _assert_same_weights(a, b) -> None:
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("float_epochs, qat_epochs, first", [
    (2, 0, 1),   # inside the float phase (float model)
    (1, 1, 1),   # at the float -> QAT boundary
    (1, 2, 2),   # inside the QAT phase
])
def test_resume_equals_uninterrupted(sample_scene_dir, tmp_path, float_epochs, qat_epochs,
                                     first) -> None:
    name = "tinyicenet_w4a4" if qat_epochs else "tinyicenet_float"
    cfg = load_config("default", [f"data.train={sample_scene_dir}", *TINY,
                                  f"train.float_epochs={float_epochs}",
                                  f"train.qat_epochs={qat_epochs}", f"model.name={name}"])
    whole = run_training(cfg, tmp_path / "whole", quiet=True)

    part = run_training(cfg, tmp_path / "split", quiet=True, stop_after=first)
    assert not part.complete and not (tmp_path / "split" / "final.pt").exists()
    assert torch.load(tmp_path / "split" / "last.pt", weights_only=True)["epoch"] == first
    resumed = run_training(resume_config(tmp_path / "split"), tmp_path / "split",
                           resume=tmp_path / "split", quiet=True)
    assert resumed.complete
    _assert_same_weights(whole.final, resumed.final)
    assert [r["loss"] for r in whole.history] == [r["loss"] for r in resumed.history]
    assert len((tmp_path / "split" / "metrics.csv").read_text().splitlines()) == \
        cfg.total_epochs + 1


def test_seeded_runs_are_reproducible_and_seeds_matter(sample_scene_dir, tmp_path) -> None:
    base = [f"data.train={sample_scene_dir}", *TINY, "train.float_epochs=1",
            "train.qat_epochs=0", "model.name=tinyicenet_float"]
    a = run_training(load_config("default", base), tmp_path / "a", quiet=True)
    b = run_training(load_config("default", base), tmp_path / "b", quiet=True)
    c = run_training(load_config("default", [*base, "seed=1"]), tmp_path / "c", quiet=True)
    _assert_same_weights(a.final, b.final)
    assert not torch.equal(_state(a.final)["head.weight"], _state(c.final)["head.weight"])


def _train_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tinyicenet", "train", "--quiet", *args]


@pytest.mark.slow
def test_resume_after_a_kill(sample_scene_dir, tmp_path) -> None:
    """SIGKILL a training process once its first checkpoint exists, resume, compare."""
    sets = [f"data.train={sample_scene_dir}", *TINY, "train.float_epochs=3",
            "train.qat_epochs=3", "train.steps_per_epoch=6"]
    args = [a for s in sets for a in ("--set", s)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd("--out", str(run), *args), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (run / "last.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "final.pt").exists(), "the run finished before it could be killed"
    epoch = torch.load(run / "last.pt", weights_only=True)["epoch"]
    assert 1 <= epoch < 6

    done = subprocess.run(_train_cmd("--resume", str(run)), env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    whole = subprocess.run(_train_cmd("--out", str(tmp_path / "whole"), *args), env=env,
                           capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    _assert_same_weights(run / "final.pt", tmp_path / "whole" / "final.pt")
    _assert_same_weights(run / "float.pt", tmp_path / "whole" / "float.pt")


def test_resume_refuses_what_it_cannot_continue(sample_scene_dir, tmp_path) -> None:
    from tinyicenet.errors import CheckpointError

    cfg = load_config("default", [f"data.train={sample_scene_dir}", *TINY,
                                  "train.float_epochs=1", "train.qat_epochs=0",
                                  "model.name=tinyicenet_float"])
    result = run_training(cfg, tmp_path / "run", quiet=True)
    with pytest.raises(CheckpointError, match="nothing to resume from"):
        resume_config(tmp_path / "empty")
    # a final.pt has no optimizer state
    with pytest.raises(CheckpointError, match="not a resumable training checkpoint"):
        run_training(cfg, tmp_path / "run2", resume=result.final, quiet=True)
    # the saved run trains widths [4, 8]; a config for another architecture cannot continue it
    other = resume_config(tmp_path / "run", ["model.widths=[8, 16]"])
    with pytest.raises(CheckpointError, match=r"but the config trains tinyicenet_float \[8, 16\]"):
        run_training(other, tmp_path / "run", resume=tmp_path / "run", quiet=True)
    # a finished run is refused, not silently re-saved; one stopped before final.pt was
    # written (killed after its last epoch) resumes and writes it, the same weights
    with pytest.raises(CheckpointError, match=r"already finished its 1 epochs \(final.pt"):
        run_training(cfg, tmp_path / "run", resume=tmp_path / "run", quiet=True)
    before = torch.load(result.final, weights_only=True)["state_dict"]
    result.final.unlink()
    again = run_training(cfg, tmp_path / "run", resume=tmp_path / "run", quiet=True)
    after = torch.load(again.final, weights_only=True)["state_dict"]
    assert again.complete and before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
