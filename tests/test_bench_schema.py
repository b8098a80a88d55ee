"""The bench result schema: the JSON-schema file, its validator, reading and writing files."""

from __future__ import annotations

import copy
import json

import pytest

from tinyicenet.bench import schema
from tinyicenet.bench.modelled import modelled_result
from tinyicenet.bench.units import ew_scene
from tinyicenet.bench.validation import errors
from tinyicenet.errors import ConfigError, ResultError


def measured() -> dict:
    r = schema.blank_result(target="cuda", backend="torch", device="NVIDIA H200",
                            model="tinyicenet_float", precision="fp16", tile=(256, 256), batch=8,
                            scene=ew_scene().to_dict(), variant="eager-fp16")
    r.update(tiles_per_s=2000.0, scenes_per_s=80.0, window_s=10.0, repetitions=3,
             commit="abc", date="2026-11-21T10:00:00Z", host="h200")
    r["latency_ms"] = {"p50": 4.0, "p99": 4.5}
    r["energy_mj"] = {"per_tile_gross": 100.0, "per_tile_above_idle": 40.0,
                      "per_scene_gross": 2500.0, "per_scene_above_idle": 1000.0}
    r["power_w"] = {"average": 200.0, "idle": 120.0}
    r["provenance"].update(energy="measured", energy_reason=None)
    r["method"].update(meter="nvml", warmup_s=3.0)
    return r


def test_scene_unit_is_a_tiled_ew_scene():
    scene = ew_scene()
    # 400 km at 80 m x 5 = 1000 px; cores of 256 - 2*16 = 224 px -> 5 x 5 tiles
    assert scene.pixels == (1000, 1000) and scene.pixel_spacing_m == 400.0
    assert scene.tiles == 25 and scene.halo == 16
    assert ew_scene((128, 128), 16).tiles == 11 * 11
    with pytest.raises(ConfigError, match="square"):
        ew_scene((256, 128))


def test_valid_results_pass_and_round_trip(tmp_path):
    r = measured()
    assert schema.validate_result(r) is r
    path = schema.write_results(tmp_path / "r.json", [r, measured()])
    loaded = schema.load_results(path)
    assert loaded == json.loads(json.dumps([r, r]))
    single = schema.write_results(tmp_path / "one.json", r)
    assert json.loads(single.read_text())["target"] == "cuda"


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("tiles_per_s"), "missing key 'tiles_per_s'"),
    (lambda r: r.update(target="gpu"), "must be one of"),
    (lambda r: r.update(tile=[256]), "at least 2"),
    (lambda r: r.update(batch=0), ">= 1"),
    (lambda r: r.update(batch=True), "expected integer"),
    (lambda r: r["energy_mj"].update(per_tile_gross="12"), "expected number or null"),
    (lambda r: r["provenance"].update(throughput="guessed"), "must be one of"),
    (lambda r: r["provenance"].update(energy="unavailable", energy_reason=None),
     "energy_reason"),
    (lambda r: r["provenance"].update(throughput="modelled"), "at least 1 item"),
    (lambda r: r.update(tiles_per_s=float("nan")), "not a finite number"),
])
def test_invalid_results_fail_with_the_reason(change, message):
    r = measured()
    change(r)
    with pytest.raises(ResultError, match=message):
        schema.validate_result(r, "x.json")


def test_unavailable_energy_must_carry_no_number():
    r = measured()
    r["provenance"].update(energy="unavailable", energy_reason="no powercap")
    with pytest.raises(ResultError, match="expected null"):
        schema.validate_result(r)
    r["energy_mj"] = {k: None for k in schema.ENERGY_KEYS}
    r["power_w"]["average"] = None
    schema.validate_result(r)


def test_other_schema_version_and_corrupt_files_are_clear_errors(tmp_path):
    newer = measured()
    newer["schema_version"] = 2
    (tmp_path / "v2.json").write_text(json.dumps(newer))
    with pytest.raises(ResultError, match=r"v2.json: bench result schema_version 2; this "
                                          r"tinyicenet reads version 1 only"):
        schema.load_results(tmp_path / "v2.json")
    (tmp_path / "bad.json").write_text('{"schema": "tinyicenet-bench", ')
    with pytest.raises(ResultError, match=r"bad.json: corrupt result file, not JSON"):
        schema.load_results(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"model": "x", "sod_f1": 0.7}))
    with pytest.raises(ResultError, match="not a tinyicenet bench result"):
        schema.load_results(tmp_path / "other.json")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(ResultError, match="empty list"):
        schema.load_results(tmp_path / "empty.json")
    with pytest.raises(ResultError, match="no such result file"):
        schema.load_results(tmp_path / "missing.json")
    bad_item = [measured(), {**measured(), "batch": -1}]
    (tmp_path / "list.json").write_text(json.dumps(bad_item))
    with pytest.raises(ResultError, match=r"list.json\[1\]"):
        schema.load_results(tmp_path / "list.json")


def test_write_refuses_invalid_and_leaves_no_file(tmp_path):
    r = measured()
    r["target"] = "tpu"
    with pytest.raises(ResultError):
        schema.write_results(tmp_path / "r.json", r)
    assert list(tmp_path.iterdir()) == []


def test_validator_semantics():
    import jsonschema

    s = {"type": "object", "required": ["a"], "properties": {
        "a": {"type": ["number", "null"], "minimum": 0},
        "b": {"type": "array", "items": {"type": "string"}, "maxItems": 1}},
        "if": {"properties": {"a": {"const": 0}}}, "then": {"required": ["b"]}}
    assert errors({"a": 1}, s) == []
    assert errors({"a": None}, s) == []
    assert errors({"a": -1}, s) == ["$.a: must be >= 0, got -1"]
    assert errors({"a": 0}, s) == ["$: missing key 'b'"]
    assert sorted(errors({"a": 0, "b": ["x", 1]}, s)) == [
        "$.b: allows at most 1 item(s), has 2", "$.b[1]: expected string, got integer"]
    with pytest.raises(jsonschema.SchemaError):
        errors({}, {"type": "no-such-type"})


def test_board_script_result_shape_is_accepted():
    """The ZCU102 script writes extra keys (power breakdown) and its own host dict."""
    r = measured()
    r.update(target="fpga", backend="zcu102-pynq", variant="pynq-dma",
             accelerator_tiles_per_s=12.5, power_breakdown_w={"domains": {"pl": 2.5}},
             host={"name": "pynq", "machine": "aarch64", "numpy": "1.26.4"},
             date="2026-11-21T10:00:00+00:00")
    r["latency_ms"] = {"p50": None, "p99": None}
    schema.validate_result(r)


def test_modelled_result_is_labelled_and_needs_assumptions():
    scene = ew_scene()
    r = modelled_result(target="fpga", backend="hls-model", device="ZCU102 (modelled)",
                        model="tinyicenet_w4a4", precision="w4a4", scene=scene, tiles_per_s=50.0,
                        power_w=2.0, idle_power_w=1.5, assumptions=["200 MHz", "II=1"],
                        method="hls schedule", verification="C simulation equals intref")
    assert r["provenance"]["throughput"] == "modelled" == r["provenance"]["energy"]
    assert r["energy_mj"]["per_tile_gross"] == pytest.approx(2.0 / 50 * 1e3)
    assert r["energy_mj"]["per_scene_above_idle"] == pytest.approx(0.5 / 50 * 1e3 * 25)
    assert r["scenes_per_s"] == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="assumptions"):
        modelled_result(target="fpga", backend="x", device="x", model="x", precision="x",
                        scene=scene, tiles_per_s=1.0, power_w=None, assumptions=[], method="m")
    r2 = copy.deepcopy(r)
    r2["provenance"]["assumptions"] = []
    with pytest.raises(ResultError):
        schema.validate_result(r2)


def test_modelled_results_name_their_timing():
    r = modelled_result(target="fpga", backend="hls-model", device="ZCU102 (modelled)",
                        model="tinyicenet_w4a4", precision="w4a4", scene=ew_scene(),
                        tiles_per_s=20.0, power_w=None, assumptions=["200 MHz"],
                        method="hls schedule")
    assert r["timing"] == {"throughput": "queued", "latency": "synchronised"}
    schema.validate_result(r, new=True)
    r["timing"] = {"throughput": "queued"}
    with pytest.raises(ResultError, match="missing key 'latency'"):
        schema.validate_result(r)
