"""Sweep configurations become the model's per-layer precision: every quantizer in exactly one
group, uniform configurations are the tinyicenet_w{W}a{A} models, and a mixed configuration
trains (the project's trainer) into a checkpoint of exactly that precision."""

from __future__ import annotations

import json

import shutil

import pytest
import torch

from tinyicenet.errors import ConfigError
from tinyicenet.models import Precision, act_groups, conv_names, create_model
from tinyicenet.sweep.accuracy import AccuracySetup, ConfigurationTrainer
from tinyicenet.sweep.models import GROUPINGS, grouping
from tinyicenet.sweep.space import Configuration


@pytest.mark.parametrize("name", GROUPINGS)
@pytest.mark.parametrize("skips", [True, False])
def test_every_quantizer_in_exactly_one_group(name, skips):
    g = grouping(name, levels=2, skips=skips)
    members = [m for _, ms in g.members for m in ms]
    expected = [("weights", c) for c in conv_names(2)] + [("acts", a)
                                                          for a in act_groups(2, skips)]
    assert sorted(members) == sorted(expected)
    low = g.space((2, 5)).lowest()
    assert g.precision(low) == Precision.uniform(2, 2, 2, skips)
    assert g.model_name(low) == "tinyicenet_w2a2" + ("" if skips else "_noskip")


def test_mixed_configuration_is_the_precision_it_names():
    g = grouping("blocks", levels=2, skips=True)
    config = Configuration.of({"w_encoder": 3, "w_decoder": 4, "w_head": 8, "a_skip": 6,
                               "a_dec0": 4})
    p = g.precision(config)
    assert p.weights == {"enc0": 3, "enc1": 3, "bottleneck": 3, "dec1": 4, "dec0": 4,
                         "head": 8}
    assert p.acts == {"skip0": 6, "skip1": 6, "dec0": 4} and p.input == p.output == 8
    assert g.model_name(config) == "tinyicenet_mixed"
    name, spec = g.train_overrides(config)
    assert name == "model.name=tinyicenet_mixed"
    assert json.loads(spec.removeprefix("model.precision=")) == p.to_dict()
    torch.manual_seed(0)
    twin = g.twin(create_model("tinyicenet_float"), config)
    assert twin.precision == p and twin.name == "tinyicenet_mixed"
    with pytest.raises(ConfigError, match="sweep grouping 'x' unknown"):
        grouping("x")


def test_mixed_configuration_trains_into_its_precision(sample_scene_files, tmp_path):
    train, test = tmp_path / "train", tmp_path / "test"
    train.mkdir(), test.mkdir()
    for p in sample_scene_files[:2]:
        shutil.copy(p, train / p.name)
    shutil.copy(sample_scene_files[2], test / sample_scene_files[2].name)
    g = grouping("blocks", levels=1, skips=True)   # widths (8, 16): one encoder level
    setup = AccuracySetup(train=train, test=test, workdir=tmp_path / "work", recipe="demo",
                          overrides=("model.widths=[8,16]", "train.float_epochs=1",
                                     "train.steps_per_epoch=2", "train.batch=4",
                                     "eval.tile=64"),
                          qat_epochs=1)
    trainer = ConfigurationTrainer(setup, g)
    config = Configuration.of({"w_encoder": 2, "w_decoder": 3, "w_head": 8, "a_skip": 5,
                               "a_dec0": 3})
    ev = trainer(config)
    assert 0.0 <= ev.accuracy <= 1.0 and ev.cost is None
    from tinyicenet.models import load_checkpoint

    model, ckpt = load_checkpoint(tmp_path / "work" / ev.details["checkpoint"])
    assert model.name == "tinyicenet_mixed" and model.precision == g.precision(config)
    assert ev.details["bits"] == g.precision(config).to_dict()
    assert ev.details["precision"] == g.precision(config).label()
    # the training config that ran names the mixed model and its precision
    assert ckpt["config"]["model"]["name"] == "tinyicenet_mixed"
    assert ckpt["config"]["model"]["precision"] == g.precision(config).to_dict()
