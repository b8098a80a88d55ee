"""The float model, its checkpoints and the torch backend work where Brevitas is not installed
(the GPU machine); quantized models there fail with one line naming the package."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from tinyicenet.errors import ToolNotFoundError
from tinyicenet.models import (MissingDependencyError, brevitas_available, calibrate,
                               create_model, deps, save_checkpoint)

# Runs in a fresh interpreter in which every import of brevitas fails as if it were absent.
CHILD = textwrap.dedent('''
    import contextlib, importlib.abc, io, json, sys

    class NoBrevitas(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "brevitas" or name.startswith("brevitas."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoBrevitas())
    paths = json.loads(sys.argv[1])

    import numpy as np
    import torch
    import tinyicenet.backends, tinyicenet.models as m
    from tinyicenet.backends import get_backend
    from tinyicenet.errors import ToolNotFoundError
    report = {"brevitas_loaded": sorted(k for k in sys.modules if k.startswith("brevitas")),
              "available": m.brevitas_available()}

    # float: build, run, calibrate (a no-op), summary, checkpoint round trip, torch backend
    torch.manual_seed(0)
    f = m.create_model("tinyicenet_float", widths=(8, 16, 32)).eval()
    report["float_shape"] = list(f(torch.zeros(1, 2, 16, 16)).shape)
    report["calibrate_same"] = m.calibrate(f, [torch.zeros(1, 2, 16, 16)]) is f
    report["summary_params"] = m.summarize(f, tile=64).totals["params"]
    report["count_params"] = m.count_parameters(f)
    tiles = np.load(paths["tiles"])
    out = get_backend("torch", paths["float_ckpt"]).run(tiles)
    report["float_matches"] = bool(np.array_equal(out, np.load(paths["float_out"])))

    def error_of(fn):
        try:
            fn()
        except Exception as exc:
            return {"type": type(exc).__name__, "message": str(exc),
                    "tool_not_found": isinstance(exc, ToolNotFoundError),
                    "import_error": isinstance(exc, ImportError)}
        return None

    report["create_q"] = error_of(lambda: m.create_model("tinyicenet_w4a4"))
    report["load_q"] = error_of(lambda: m.load_checkpoint(paths["q_ckpt"]))
    report["backend_q"] = error_of(lambda: get_backend("torch", paths["q_ckpt"]))
    report["quantizers"] = error_of(lambda: __import__("tinyicenet.models.quantizers"))

    # the CLI: one error line and the ToolNotFoundError exit code, float still fine
    from tinyicenet.cli import main
    for key, args in (("cli_q", ["model", "summary", "tinyicenet_w4a4"]),
                      ("cli_float", ["model", "summary", "tinyicenet_float", "--json"])):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                main(args)
                code = 0
            except SystemExit as exc:
                code = exc.code
        report[key] = {"code": code, "stderr": err.getvalue()}
    print("REPORT " + json.dumps(report))
''')


@pytest.fixture(scope="module")
def child_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nobrevitas")
    torch.manual_seed(0)
    fmodel = create_model("tinyicenet_float", widths=(8, 16, 32)).eval()
    tiles = np.random.default_rng(5).standard_normal((2, 2, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = fmodel(torch.from_numpy(tiles)).numpy()
    qmodel = create_model("tinyicenet_w4a4", widths=(8, 16, 32))
    calibrate(qmodel, [torch.from_numpy(tiles)])
    paths = {"float_ckpt": str(save_checkpoint(folder / "float.pt", fmodel)),
             "q_ckpt": str(save_checkpoint(folder / "q.pt", qmodel)),
             "tiles": str(folder / "tiles.npy"), "float_out": str(folder / "out.npy")}
    np.save(paths["tiles"], tiles)
    np.save(paths["float_out"], expected)
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(paths)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("REPORT ")][-1]
    return json.loads(line[len("REPORT "):]), paths


def test_float_model_works_without_brevitas(child_report):
    report, _ = child_report
    assert report["brevitas_loaded"] == [] and report["available"] is False
    assert report["float_shape"] == [1, 6, 16, 16]
    assert report["calibrate_same"] is True
    assert report["summary_params"] == report["count_params"] > 0
    assert report["float_matches"] is True   # checkpoint -> torch backend, same logits
    assert report["cli_float"]["code"] == 0, report["cli_float"]["stderr"]


def test_quantized_model_without_brevitas_is_one_clear_error(child_report):
    report, paths = child_report
    for key in ("create_q", "load_q", "backend_q", "quantizers"):
        err = report[key]
        assert err is not None, f"{key}: no error without brevitas"
        assert err["type"] == "MissingDependencyError", err
        assert err["tool_not_found"] and err["import_error"]
        assert "'brevitas'" in err["message"] and "pip install brevitas" in err["message"]
        assert "\n" not in err["message"]
    assert "tinyicenet_w4a4" in report["create_q"]["message"]
    for key in ("load_q", "backend_q"):   # a checkpoint's error names the file
        assert report[key]["message"].startswith(paths["q_ckpt"])
    cli = report["cli_q"]
    assert cli["code"] == ToolNotFoundError.exit_code
    lines = cli["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "brevitas" in lines[0]


def test_broken_brevitas_install_says_why(monkeypatch):
    def broken(name):
        raise ImportError("libtorch_cuda.so: undefined symbol: _ZN3c10")
    monkeypatch.setattr(deps.importlib, "import_module", broken)
    with pytest.raises(MissingDependencyError, match=r"cannot be imported here \(libtorch_cuda"):
        create_model("tinyicenet_w2a2")
    assert brevitas_available() is False
    monkeypatch.undo()
    assert brevitas_available() is True   # this environment has it
