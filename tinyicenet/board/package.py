"""The folder ``tinyicenet board package`` writes for the ZCU102: driver, shared package, board
facts, io spec, bitstream, and optionally a scene with the integer reference's expected logits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import tinyicenet_io

from tinyicenet.board.io_spec import validated
from tinyicenet.errors import ConfigError

DRIVER_PACKAGE = "tinyicenet_zcu102"
SHARED_PACKAGE = "tinyicenet_io"


def board_dir() -> Path:
    """``boards/zcu102`` (the driver's source, board.json, build.py), also inside a wheel."""
    from tinyicenet.resources import resource_dir

    return resource_dir("boards/zcu102")


RUN_TEXT = """# Run tinyicenet on the ZCU102 (PYNQ image)

Copy this folder to the board (e.g. `scp -r {name} xilinx@<board>:`), then on the board, as
root (PYNQ needs it for the PL and the DMA). The driver (`tinyicenet_zcu102`) and the package it
shares with the host (`tinyicenet_io`) need numpy and jsonschema; PYNQ's Jupyter install usually
brings jsonschema (check `python3 -c "import jsonschema"`, else `pip3 install jsonschema`).

```
cd {name}
python3 -m tinyicenet_zcu102 rails                      # INA226 rails readable?
python3 -m tinyicenet_zcu102 run --bitfile tinyicenet.bit --io-spec io_spec.json \\
    --scene scene.npz --expect expected_logits.npy --out result.json \\
    --logits logits.npy --power-csv power.csv
```

result.json follows tinyicenet's bench schema (target fpga, backend zcu102-pynq, meter
zcu102-ina226); copy it back and read it with `tinyicenet report`. A non-zero exit with
"differing values" means the board's logits differ from the host's integer reference.
"""


def build_package(io_spec: Path, out: Path, *, bitstream: Path | None = None,
                  scene: Path | None = None, checkpoint: Path | None = None) -> list[str]:
    """Write the board folder atomically; returns the names of what it holds."""
    import numpy as np

    from tinyicenet.atomic import atomic_dir

    try:
        spec = json.loads(Path(io_spec).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{io_spec}: io spec not found") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{io_spec}: cannot read io spec ({exc})") from None
    spec = validated(spec, str(io_spec))
    bit_files = []
    if bitstream is not None:
        bit_files = [Path(bitstream) / f"tinyicenet.{ext}" for ext in ("bit", "hwh")]
        missing = [p.name for p in bit_files if not p.is_file()]
        if missing:
            raise ConfigError(f"{bitstream}: no {' or '.join(missing)} (run tinyicenet board "
                              "build first)")
    scene_data = None
    if scene is not None:
        scene_data = _scene_and_expected(scene, checkpoint, spec)
    src = board_dir()
    made = [DRIVER_PACKAGE, SHARED_PACKAGE, "board.json", "io_spec.json", "RUN.md"]
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    with atomic_dir(out) as tmp:
        shutil.copytree(src / DRIVER_PACKAGE, tmp / DRIVER_PACKAGE, ignore=skip)
        # the shared package the host validated the spec with, so both sides read it alike
        shutil.copytree(Path(tinyicenet_io.__file__).parent, tmp / SHARED_PACKAGE, ignore=skip)
        shutil.copy(src / "board.json", tmp / "board.json")
        (tmp / "io_spec.json").write_text(json.dumps(spec, indent=2) + "\n")
        (tmp / "RUN.md").write_text(RUN_TEXT.format(name=Path(out).name))
        for path in bit_files:
            shutil.copy(path, tmp / path.name)
            made.append(path.name)
        if scene_data is not None:
            image, expected, scene_id, spacing = scene_data
            extra = {} if spacing is None else {"pixel_spacing_m": np.array(float(spacing))}
            np.savez(tmp / "scene.npz", image=image, scene_id=np.array(scene_id), **extra)
            np.save(tmp / "expected_logits.npy", expected)
            made += ["scene.npz", "expected_logits.npy"]
    return made


def _scene_and_expected(scene: Path, checkpoint: Path, spec: dict):
    """The scene's normalised image and the integer reference's stitched logits for it
    (``expected_logits.npy``: what the board's output must equal)."""
    import numpy as np

    from tinyicenet.data import extract_tiles, load_scene, plan_tiles, stitch
    from tinyicenet.export.intref import from_brevitas
    from tinyicenet.models.checkpoint import load_quantized_checkpoint

    model, ckpt = load_quantized_checkpoint(checkpoint)
    intmodel = from_brevitas(model)
    for what, got, want in (("input", (intmodel.input_bits, intmodel.input_exp),
                             (spec["input"]["bits"], spec["input"]["exponent"])),
                            ("output", (intmodel.output_bits, intmodel.output_exp),
                             (spec["output"]["bits"], spec["output"]["exponent"]))):
        if got != want:
            raise ConfigError(f"{checkpoint}: precision mismatch on the {what}: the model has "
                              f"int{got[0]} * 2**{got[1]}, the io spec int{want[0]} * 2**{want[1]}")
    # the scene as training saw it: same variables, downsampling and normalisation statistics
    facts = ckpt.get("data_stats") or {}
    from tinyicenet.models.checkpoint import input_statistics
    stats = input_statistics(ckpt, path=checkpoint)
    kwargs = {"downsample": int(facts["downsample"])} if facts.get("downsample") else {}
    data = load_scene(scene, variables=spec["channels"], stats=stats, **kwargs)
    image = np.asarray(data["image"], dtype=np.float32)
    plan = plan_tiles(image.shape[1:], spec["tile"], spec["halo"], spec["align"])
    tiles = extract_tiles(image, plan)
    logits = stitch(intmodel.run_int(intmodel.quantize_input(tiles)), plan)
    meta = data.get("meta", {})
    return image, logits.astype(np.int16), str(meta.get("scene_id", Path(scene).stem)), \
        meta.get("pixel_spacing")
