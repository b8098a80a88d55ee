"""Checkpoint round trip and every bad-checkpoint case."""

from __future__ import annotations


import pytest
import torch

from tinyicenet.errors import CheckpointError
from tinyicenet.models import calibrate, create_model, load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def qmodel():
    torch.manual_seed(1)
    model = create_model("tinyicenet_w4a4", widths=(8, 16, 32), charts=("SOD", "FLOE"))
    calibrate(model, [torch.randn(2, 2, 16, 16)])
    return model.eval()


def test_round_trip_keeps_outputs_and_extras(tmp_path, qmodel):
    opt = torch.optim.SGD(qmodel.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(1, 2, 16, 16, generator=torch.Generator().manual_seed(23))
    qmodel(x).sum().backward()
    opt.step()  # momentum buffers -> a non-trivial optimizer state
    qmodel.zero_grad()
    path = save_checkpoint(tmp_path / "m.pt", qmodel, epoch=7, optimizer=opt.state_dict(),
                           metrics={"f1": 0.7}, variables=["HH", "HV"],
                           data_stats={"mean": [1.0, 2.0]})
    model, ckpt = load_checkpoint(path)
    assert model.name == "tinyicenet_w4a4" and model.charts == ("SOD", "FLOE")
    assert model.widths == (8, 16, 32) and not model.training
    assert ckpt["epoch"] == 7 and ckpt["metrics"]["f1"] == 0.7
    assert ckpt["format"] == "tinyicenet-checkpoint" and ckpt["version"] == 1
    assert ckpt["model"] == {"name": "tinyicenet_w4a4",
                             "kwargs": {"in_channels": 2, "widths": [8, 16, 32],
                                        "charts": ["SOD", "FLOE"]}}
    opt2 = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(ckpt["optimizer"])
    with torch.no_grad():
        assert torch.equal(model(x), qmodel(x))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary left behind


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_file(tmp_path, qmodel):
    path = save_checkpoint(tmp_path / "m.pt", qmodel)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_garbage_file(tmp_path):
    path = tmp_path / "g.pt"
    path.write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="g.pt"):
        load_checkpoint(path)


def test_wrong_format_and_version(tmp_path, qmodel):
    torch.save({"state_dict": qmodel.state_dict()}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a tinyicenet checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    torch.save(qmodel.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(CheckpointError, match="not a tinyicenet checkpoint"):
        load_checkpoint(tmp_path / "sd.pt")
    path = save_checkpoint(tmp_path / "m.pt", qmodel)
    ckpt = torch.load(path, weights_only=True)
    ckpt["version"] = 99
    torch.save(ckpt, tmp_path / "v.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(tmp_path / "v.pt")


def test_pickled_objects_are_refused(tmp_path, qmodel):
    ckpt = torch.load(save_checkpoint(tmp_path / "m.pt", qmodel), weights_only=True)
    ckpt["config"] = CheckpointError("an arbitrary python object")
    torch.save(ckpt, tmp_path / "obj.pt")
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(tmp_path / "obj.pt")


def test_other_architecture(tmp_path, qmodel):
    path = save_checkpoint(tmp_path / "m.pt", qmodel)
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"]["kwargs"]["widths"] = [16, 32, 64]
    torch.save(ckpt, tmp_path / "arch.pt")
    with pytest.raises(CheckpointError, match="another architecture"):
        load_checkpoint(tmp_path / "arch.pt")
    ckpt["model"] = {"name": "tinyicenet_w4a4_noskip", "kwargs": {"widths": [8, 16, 32],
                                                                   "charts": ["SOD", "FLOE"]}}
    torch.save(ckpt, tmp_path / "noskip.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "noskip.pt")
    ckpt["model"] = {"name": "unet_w4a4", "kwargs": {}}
    torch.save(ckpt, tmp_path / "name.pt")
    with pytest.raises(CheckpointError, match="unknown model name"):
        load_checkpoint(tmp_path / "name.pt")
    with pytest.raises(CheckpointError, match="expected 'tinyicenet_float'"):
        load_checkpoint(path, expect="tinyicenet_float")


def test_float_checkpoint_into_other_precision(tmp_path):
    fmodel = create_model("tinyicenet_float", widths=(8, 16, 32))
    ckpt_path = save_checkpoint(tmp_path / "f.pt", fmodel)
    ckpt = torch.load(ckpt_path, weights_only=True)
    ckpt["model"]["name"] = "tinyicenet_w4a4"  # quantizer scales are missing from the weights
    torch.save(ckpt, tmp_path / "fq.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "fq.pt")


def test_failed_save_leaves_no_file(tmp_path, qmodel):
    with pytest.raises(Exception):
        save_checkpoint(tmp_path / "m.pt", qmodel, config=lambda: None)  # not picklable
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CheckpointError, match="reserved"):
        save_checkpoint(tmp_path / "m.pt", qmodel, state_dict={})


def test_uncalibrated_quantized_model_is_refused(tmp_path):
    path = tmp_path / "unc.pt"
    with pytest.raises(CheckpointError, match="calibrate"):
        save_checkpoint(path, create_model("tinyicenet_w4a4"))
    assert not path.exists() and not list(tmp_path.iterdir())
