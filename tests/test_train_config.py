"""Training configs: packaged files, YAML loading, validation, dotted overrides, CLI errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tinyicenet.errors import ConfigError
from tinyicenet.train.config import (Config, config_from_dict, load_config, packaged_configs,
                                     parse_override)


def test_packaged_configs_load_and_validate() -> None:
    names = packaged_configs()
    assert {"default", "demo", "accuracy"} <= set(names)
    for name in names:
        cfg = load_config(name)
        assert isinstance(cfg, Config)
        assert cfg.data.patch % 2 ** (len(cfg.model.widths) - 1) == 0


def test_defaults_round_trip_through_yaml(tmp_path) -> None:
    cfg = load_config("default", ["optim.lr=1e-3", "model.name=tinyicenet_w3a3_noskip"])
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    again = load_config(path)
    assert again == cfg
    assert again.optim.lr == 1e-3  # "1e-3" is a string to YAML 1.1; coerced to float
    assert not again.skips and again.float_name == "tinyicenet_float_noskip"


def test_overrides_are_typed() -> None:
    cfg = load_config("default", ["train.batch=4", "augment.flips=false", "data.train=a/b",
                                  "model.widths=[8, 16]", "optim.lr=2e-4", "data.patch=32"])
    assert cfg.train.batch == 4 and cfg.augment.flips is False
    assert cfg.data.train == ["a/b"]
    assert cfg.model.widths == [8, 16] and cfg.optim.lr == pytest.approx(2e-4)
    assert parse_override("optim.name=sgd") == (["optim", "name"], "sgd")


def test_phase_schedule() -> None:
    cfg = load_config("default", ["train.float_epochs=2", "train.qat_epochs=3"])
    assert cfg.total_epochs == 5
    assert [cfg.phase_of(e) for e in range(5)] == ["float"] * 2 + ["qat"] * 3
    flt = load_config("default", ["model.name=tinyicenet_float", "train.qat_epochs=0"])
    assert flt.total_epochs == flt.train.float_epochs and not flt.is_quantized


@pytest.mark.parametrize("override, needle", [
    (["optim.lrr=1"], "config key 'optim.lrr' is unknown; valid keys in 'optim': name, lr,"),
    (["bogus=1"], "config key 'bogus' is unknown; valid keys at the top level: seed, data,"),
    (["train.batch=0"], "config key 'train.batch': 0 must be >= 1"),
    (["train.batch=two"], "config key 'train.batch': 'two' is not an integer"),
    (["optim.lr=fast"], "config key 'optim.lr': 'fast' is not a number"),
    (["optim.name=rmsprop"], "config key 'optim.name': 'rmsprop' is not one of adam, adamw, sgd"),
    (["model.name=resnet50"], "config key 'model.name': unknown model 'resnet50'"),
    (["model.name=tinyicenet_w9a4"], "unknown model 'tinyicenet_w9a4'"),
    (["data.patch=30"], "config key 'data.patch': 30 must be a positive multiple of the model "
                        "stride 4"),
    (["model.charts=[SOD, XYZ]"], "config key 'model.charts': 'XYZ' is not one of SIC, SOD, FLOE"),
    (["model.name=tinyicenet_float"], "is a float model and has no QAT phase"),
    (["model.name=tinyicenet_float", "train.qat_epochs=0", "model.precision={input: 6}"],
     "config key 'model.precision': a float model has no precision"),
    (["model.name=tinyicenet_mixed", "model.precision={weights: {enc0: 2}}"],
     "config key 'model.precision': precision: missing bit width(s) for input, output"),
    (["model.precision={acts: {skip7: 4}}"], "config key 'model.precision': "),
    (["model.precision=4"], "config key 'model.precision': 4 is not a mapping"),
    (["augment.flips=maybe"], "config key 'augment.flips': 'maybe' is not true or false"),
    (["data=3"], "config section 'data' must be a mapping"),
    (["optim.lr"], "must look like section.key=value"),
])
def test_bad_values_raise_config_error(override, needle) -> None:
    with pytest.raises(ConfigError) as info:
        load_config("default", override)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_yaml_file(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  batch: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml line \d+: invalid YAML"):
        load_config(bad)
    notmap = tmp_path / "list.yaml"
    notmap.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(notmap)
    with pytest.raises(ConfigError, match="no such file or packaged config"):
        load_config(tmp_path / "missing.yaml")


def test_partial_mapping_keeps_defaults() -> None:
    cfg = config_from_dict({"train": {"batch": 3}})
    assert cfg.train.batch == 3 and cfg.optim == Config().optim
    assert yaml.safe_load(cfg.to_yaml())["train"]["batch"] == 3


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyicenet", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli_unknown_key_and_model_one_line_errors(tmp_path, capsys) -> None:
    """Through cli.main in this process (the next test runs the real entry point)."""
    from helpers import run_main

    def _cli(*args):
        return run_main(capsys, *args)

    r = _cli("train", "--set", "optim.lrr=1", "--print-config")
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0
    assert r.stderr.startswith("error: config key 'optim.lrr' is unknown")
    r = _cli("train", "--set", "model.name=unet_w4a4", "--print-config")
    assert r.returncode != 0 and "unknown model 'unet_w4a4'" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_print_config_applies_data_and_overrides(tmp_path) -> None:
    r = _cli("train", "-c", "demo", "--data", str(tmp_path), "--set", "train.batch=5",
             "--print-config")
    assert r.returncode == 0, r.stderr
    printed = yaml.safe_load(r.stdout)
    assert printed["train"]["batch"] == 5 and printed["data"]["train"] == [str(tmp_path)]
