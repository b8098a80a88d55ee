"""The same ``tinyicenet train`` command under torchrun: DDP on CPU (gloo), 2 processes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow


def _sets(scene_dir, batch: int) -> list[str]:
    sets = [f"data.train={scene_dir}", "model.widths=[4, 8]", "data.patch=16",
            f"train.batch={batch}", "train.steps_per_epoch=3", "train.float_epochs=2",
            "train.qat_epochs=1", "train.threads=1", "train.device=cpu", "data.val_count=1",
            "eval.tile=64", "eval.halo=8"]
    return [a for s in sets for a in ("--set", s)]


def test_ddp_two_processes_equal_one_process_with_the_global_batch(sample_scene_dir,
                                                                    tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "tinyicenet", "train", "--quiet", "--out", str(tmp_path / "ddp"),
         *_sets(sample_scene_dir, 4)],
        env=env, capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    single = subprocess.run(
        [sys.executable, "-m", "tinyicenet", "train", "--quiet", "--out",
         str(tmp_path / "single"), *_sets(sample_scene_dir, 8)],
        env=env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-2000:]

    # rank 0 alone wrote one row per epoch, and said so
    rows = list(csv.DictReader((tmp_path / "ddp" / "metrics.csv").open()))
    assert [r["world_size"] for r in rows] == ["2", "2", "2"]
    assert ddp.stdout.count("final.pt") == 1

    # 2 processes x batch 4 saw the same patches as 1 process x batch 8, and the loss is the
    # same global mean: the float weights agree up to float summation order.
    a = torch.load(tmp_path / "ddp" / "float.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "single" / "float.pt", weights_only=True)["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    single_rows = list(csv.DictReader((tmp_path / "single" / "metrics.csv").open()))
    for r, s in zip(rows, single_rows):
        assert float(r["loss"]) == pytest.approx(float(s["loss"]), rel=1e-4)
    q = torch.load(tmp_path / "ddp" / "final.pt", weights_only=True)
    assert q["model"]["name"] == "tinyicenet_w4a4" and q["phase"] == "qat"
