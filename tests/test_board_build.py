"""boards/zcu102/build.py: tool checks, input checks, report parsing, and the whole bitstream
flow with stand-in tools that run the real Tcl scripts under a mock Vivado/HLS in tclsh.

No Vivado or Vitis exist here: the stand-ins (tests/data/zcu102/mock_*.tcl) log every Vivado/HLS
command and create the files those tools would; they check the scripts' logic and Tcl and the
build's orchestration, not whether Vivado accepts the design.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import tinyicenet_zcu102_build as build  # the jobs of boards/zcu102/build.py (an installed package)

from tinyicenet.resources import resource_dir

BOARD_DIR = resource_dir("boards/zcu102")
DATA = Path(__file__).parent / "data" / "zcu102"
BUILD = BOARD_DIR / "build.py"

needs_tclsh = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")

SPEC = {"format": "tinyicenet-io-spec", "version": 1, "model": "tinyicenet_w4a4",
        "precision": "w4a4", "channels": ["nersc_sar_primary", "nersc_sar_secondary"],
        "classes": 6, "input": {"bits": 8, "exponent": -5}, "output": {"bits": 8, "exponent": -7},
        "tile": 32, "halo": 8, "align": 4}


def fake_project(root: Path, *, input_type="ap_fixed<8,3,AP_RND_CONV,AP_SAT,0>", channels=2,
                 output_type="ap_fixed<8,1,AP_RND_CONV,AP_SAT,0>", classes=6, size=32,
                 part="xczu9eg-ffvb1156-2-e", period=5) -> Path:
    """The files of an hls4ml io_stream project that build.py reads (as hls4ml 1.3 writes them)."""
    fw = root / "firmware"
    fw.mkdir(parents=True)
    (root / "project.tcl").write_text(
        'variable project_name\nset project_name "myproject"\nvariable backend\n'
        f'set backend "vitis"\nvariable part\nset part "{part}"\nvariable clock_period\n'
        f"set clock_period {period}\n")
    (fw / "defines.h").write_text(
        f"typedef nnet::array<{input_type}, {channels}*1> input_t;\n"
        "typedef nnet::array<ap_fixed<33,23>, 4*1> Conv2D_Conv_0_result_t;\n"
        f"typedef nnet::array<{output_type}, {classes}*1> result_t;\n")
    (fw / "parameters.h").write_text(
        f"struct config3 {{\n    static const unsigned in_height = {size};\n"
        f"    static const unsigned in_width = {size};\n}};\n")
    (fw / "myproject.h").write_text("void myproject();\n")
    (fw / "myproject.cpp").write_text("void myproject() {}\n")
    return root


def run_build(*args, path: str | None = None, env_extra: dict | None = None):
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(BUILD), *map(str, args)], capture_output=True,
                          text=True, env=env)


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "io_spec.json"
    path.write_text(json.dumps(SPEC))
    return path


# ---- tools ----------------------------------------------------------------------------------

def test_missing_tools_are_named_and_nothing_is_written(tmp_path, spec_file):
    project = fake_project(tmp_path / "prj")
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    proc = run_build("bitstream", "--hls-project", project, "--io-spec", spec_file,
                     "--out", tmp_path / "out", path=str(empty))
    assert proc.returncode == 4
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: missing on PATH:")
    for tool in ("vitis-run (Vitis >= 2024.1)", "vitis_hls", "vivado_hls (Vivado HLS <= 2020.1)",
                 "vivado (Vivado Design Suite"):
        assert tool in err[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.work").exists()
    proc = run_build("csim", "--hls-project", project, "--io-spec", spec_file,
                     "--out", tmp_path / "out", path=str(empty))
    assert proc.returncode == 4 and "g++" in proc.stderr


def test_only_the_missing_tool_is_named():
    found = {"vivado_hls": "/opt/x/vivado_hls"}
    missing = build.missing_tools(("hls", "vivado"), which=found.get)
    assert len(missing) == 1 and missing[0].startswith("vivado (")
    assert build.find_hls(found.get) == ("/opt/x/vivado_hls", ["-f"])
    newest = {"vitis-run": "/a/vitis-run", "vivado_hls": "/b/vivado_hls"}
    assert build.find_hls(newest.get) == ("/a/vitis-run", ["--mode", "hls", "--tcl"])


# ---- inputs -------------------------------------------------------------------------------

def test_reads_the_hls_project(tmp_path):
    p = build.read_hls_project(fake_project(tmp_path / "prj"))
    assert (p.name, p.part, p.clock_period_ns, p.first_shape) == (
        "myproject", "xczu9eg-ffvb1156-2-e", 5.0, (32, 32))
    assert p.input == build.FixedType(True, 8, -5, 2)
    assert p.output == build.FixedType(True, 8, -7, 6)


@pytest.mark.parametrize("change,message", [
    ({"input_type": "ap_fixed<16,6>"}, "precision mismatch on the input: HLS project has 2 x "
                                       "int16 * 2**-10, io spec says 2 x int8 * 2**-5"),
    ({"output_type": "ap_fixed<8,2,AP_RND_CONV,AP_SAT,0>"}, "precision mismatch on the output"),
    ({"output_type": "ap_ufixed<8,1>"}, "uint8"),
    ({"classes": 7}, "7 x int8"),
    ({"part": "xc7z020clg400-1"}, "targets part xc7z020clg400-1, the ZCU102 is"),
    ({"size": 64}, "takes 64 x 64 images, io spec tile is 32 x 32"),
])
def test_project_and_io_spec_must_agree(tmp_path, spec_file, change, message):
    project = fake_project(tmp_path / "prj", **change)
    proc = run_build("check", "--hls-project", project, "--io-spec", spec_file)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_project_folders(tmp_path, spec_file):
    proc = run_build("check", "--hls-project", tmp_path, "--io-spec", spec_file)
    assert proc.returncode == 2 and "not an hls4ml project (no project.tcl)" in proc.stderr
    project = fake_project(tmp_path / "prj")
    (project / "firmware" / "myproject.cpp").unlink()
    proc = run_build("check", "--hls-project", project, "--io-spec", spec_file)
    assert proc.returncode == 2 and "firmware/myproject.cpp is missing" in proc.stderr
    project2 = fake_project(tmp_path / "prj2")
    (project2 / "firmware" / "defines.h").write_text("typedef ap_fixed<8,3> input_t;\n")
    proc = run_build("check", "--hls-project", project2, "--io-spec", spec_file)
    assert proc.returncode == 2 and "io_stream project" in proc.stderr
    bad_spec = tmp_path / "bad.json"
    bad_spec.write_text(json.dumps({**SPEC, "tile": 30}))
    proc = run_build("check", "--hls-project", fake_project(tmp_path / "prj3"), "--io-spec",
                     bad_spec)
    assert proc.returncode == 2 and "not a multiple of align" in proc.stderr


def test_check_reports_words_and_tools(tmp_path, spec_file):
    proc = run_build("check", "--hls-project", fake_project(tmp_path / "prj"), "--io-spec",
                     spec_file, path=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "2 x int8 * 2**-5 -> 16-bit AXI words" in proc.stdout
    assert "6 x int8 * 2**-7 -> 64-bit AXI words" in proc.stdout
    assert "tools: missing g++" in proc.stdout


def test_net_header_names_the_network_and_tile(tmp_path):
    from tinyicenet_io import iospec

    text = build.net_header(build.read_hls_project(fake_project(tmp_path / "p")),
                            iospec.from_dict(SPEC))
    assert '#include "myproject.h"' in text
    assert "#define TINYICENET_NET_TOP myproject" in text
    assert "#define TINYICENET_TILE_PIXELS (32 * 32)" in text


# ---- reports ------------------------------------------------------------------------------

def test_parse_recorded_reports():
    util = build.parse_utilization((DATA / "utilization.rpt").read_text())
    assert util["lut"] == {"used": 61234.0, "available": 274080.0}
    assert util["ff"]["used"] == 70411.0
    assert util["bram36"] == {"used": 402.5, "available": 912.0}
    assert util["dsp"] == {"used": 611.0, "available": 2520.0}
    timing = build.parse_timing((DATA / "timing_summary.rpt").read_text())
    assert timing == {"wns_ns": -0.187, "tns_ns": -3.412, "whs_ns": 0.010, "ths_ns": 0.0}


def test_parse_rejects_other_files():
    with pytest.raises(build.BuildError, match="no LUT row"):
        build.parse_utilization("nothing here\n")
    with pytest.raises(build.BuildError, match="Design Timing Summary"):
        build.parse_timing((DATA / "utilization.rpt").read_text())


# ---- Tcl scripts under mock tools -----------------------------------------------------------

def _vivado_params(tmp_path: Path, **changes) -> Path:
    values = {"part": "xczu9eg-ffvb1156-2-e", "board_part_pattern": "xilinx.com:zcu102:part0:3.*",
              "ip_repo": tmp_path / "ip", "ip_name": "tinyicenet_axis", "pl_clk_mhz": "187.500",
              "in_word_bits": 16, "out_word_bits": 64, "proj_dir": tmp_path / "vivado",
              "bd_name": "tinyicenet_bd", "out_dir": tmp_path / "out", "bit_name": "tinyicenet",
              "jobs": 2, **changes}
    path = tmp_path / "vivado_params.tcl"
    build.tcl_params(path, values)
    return path


def _mock_env(tmp_path: Path, **extra) -> dict:
    rundir = tmp_path / "run"
    rundir.mkdir(exist_ok=True)
    (rundir / "tinyicenet_bd_wrapper.bit").write_bytes(b"bit")
    (tmp_path / "x.hwh").write_text("<hwh/>")
    env = dict(os.environ, MOCK_LOG=str(tmp_path / "mock.log"), MOCK_RUNDIR=str(rundir),
               MOCK_HWH=str(tmp_path / "x.hwh"), MOCK_REPORTS=str(DATA))
    env.update(extra)
    return env


@needs_tclsh
def test_block_design_script(tmp_path):
    params = _vivado_params(tmp_path, out_word_bits=256)
    proc = subprocess.run(["tclsh", DATA / "mock_vivado.tcl", BOARD_DIR / "vivado" /
                           "block_design.tcl", params], env=_mock_env(tmp_path),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (tmp_path / "mock.log").read_text()
    assert "set_property board_part xilinx.com:zcu102:part0:3.4" in log
    assert ("apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config "
            'apply_board_preset "1"') in log
    assert "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ 187.500" in log
    assert "CONFIG.PSU__USE__IRQ0 1" in log and "CONFIG.PSU__USE__S_AXI_GP2 1" in log
    # DMA: simple mode, stream widths from the io spec, memory widths >= 32
    assert "CONFIG.c_include_sg 0" in log
    assert "CONFIG.c_m_axis_mm2s_tdata_width 16 CONFIG.c_m_axi_mm2s_data_width 32" in log
    assert "CONFIG.c_s_axis_s2mm_tdata_width 256 CONFIG.c_m_axi_s2mm_data_width 256" in log
    assert ("create_bd_cell -type ip -vlnv tinyicenet.org:hls:tinyicenet_axis:1.0 "
            "tinyicenet_0") in log
    assert "connect_bd_intf_net axi_dma_0/M_AXIS_MM2S tinyicenet_0/in_stream" in log
    assert "connect_bd_intf_net tinyicenet_0/out_stream axi_dma_0/S_AXIS_S2MM" in log
    assert "connect_bd_intf_net data_smc/M00_AXI zynq_ultra_ps_e_0/S_AXI_HP0_FPD" in log
    assert "connect_bd_intf_net ctrl_smc/M00_AXI axi_dma_0/S_AXI_LITE" in log
    assert "connect_bd_net irq_concat/dout zynq_ultra_ps_e_0/pl_ps_irq0" in log
    assert "tinyicenet_0/ap_clk" in log and "tinyicenet_0/ap_rst_n" in log
    assert log.index("assign_bd_address") < log.index("launch_runs impl_1 -to_step write_bitstream")
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"tinyicenet.bit", "tinyicenet.hwh", "tinyicenet.xsa",
                                               "utilization.rpt", "timing_summary.rpt"}
    assert (out / "tinyicenet.hwh").read_text() == "<hwh/>"


@needs_tclsh
def test_block_design_script_failures(tmp_path):
    params = _vivado_params(tmp_path)
    script = BOARD_DIR / "vivado" / "block_design.tcl"
    proc = subprocess.run(["tclsh", DATA / "mock_vivado.tcl", script, params],
                          env=_mock_env(tmp_path, MOCK_NO_BOARD="1"), capture_output=True,
                          text=True)
    assert proc.returncode == 3 and "ZCU102 board files" in proc.stdout
    proc = subprocess.run(["tclsh", DATA / "mock_vivado.tcl", script, params],
                          env=_mock_env(tmp_path, MOCK_MISSING_IPS="tinyicenet_axis"),
                          capture_output=True, text=True)
    assert proc.returncode == 3 and "did the HLS export step run?" in proc.stdout
    proc = subprocess.run(["tclsh", DATA / "mock_vivado.tcl", script, params],
                          env=_mock_env(tmp_path, MOCK_MISSING_IPS="xlconcat"),
                          capture_output=True, text=True)
    assert proc.returncode == 0  # newer Vivado: the inline concat instead
    assert "-type inline_hdl -vlnv xilinx.com:inline_hdl:ilconcat:1.0 irq_concat" in (
        tmp_path / "mock.log").read_text()


def _fake_tools(bin_dir: Path, *, vivado_exit: int = 0) -> None:
    """vitis-run and vivado that run the real scripts under the mocks (as the tools would)."""
    bin_dir.mkdir()
    tclsh = shutil.which("tclsh")
    (bin_dir / "vitis-run").write_text(
        "#!/bin/sh\n# vitis-run --mode hls --tcl SCRIPT\n"
        f'echo "$@" > vitis-run.args\nexec {tclsh} {DATA / "mock_hls.tcl"} "$4"\n')
    (bin_dir / "vivado").write_text(
        "#!/bin/sh\n# vivado -mode batch -nojournal -log L -source S -tclargs P\n"
        f"[ {vivado_exit} -ne 0 ] && echo 'ERROR: [Place 30-640] placement failed' && "
        f"exit {vivado_exit}\n"
        f'exec {tclsh} {DATA / "mock_vivado.tcl"} "$7" "$9"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)


@needs_tclsh
def test_bitstream_flow_with_stand_in_tools(tmp_path, spec_file):
    project = fake_project(tmp_path / "prj")
    _fake_tools(tmp_path / "bin")
    reports = tmp_path / "reports"
    reports.mkdir()
    shutil.copy(DATA / "utilization.rpt", reports)
    (reports / "timing_summary.rpt").write_text(
        (DATA / "timing_summary.rpt").read_text().replace("-0.187       -3.412",
                                                          " 0.213        0.000"))
    env = _mock_env(tmp_path, MOCK_REPORTS=str(reports))
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, BUILD, "bitstream", "--hls-project", project,
                           "--io-spec", spec_file, "--out", out, "--clock-mhz", "150"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    work = tmp_path / "out.work"
    assert (work / "vitis-run.args").read_text().split() == ["--mode", "hls", "--tcl",
                                                            "build_ip.tcl"]
    hls_params = (work / "hls_params.tcl").read_text()
    assert "set clock_period {6.6667}" in hls_params
    assert "set project_name {myproject}" in hls_params
    header = (work / "gen" / "tinyicenet_net.h").read_text()
    assert "#define TINYICENET_TILE_PIXELS (32 * 32)" in header
    summary = json.loads((out / "build_summary.json").read_text())
    assert summary["timing"]["wns_ns"] == 0.213 and summary["clock_mhz"] == 150
    assert summary["utilization"]["dsp"]["used"] == 611 and summary["hls_tool"] == "vitis-run"
    assert json.loads((out / "io_spec.json").read_text())["stream"]["output_word_bits"] == 64
    assert (out / "tinyicenet.bit").read_bytes() == b"bit" and (out / "tinyicenet.hwh").exists()
    assert not (tmp_path / "out.partial").exists()
    log = (tmp_path / "mock.log").read_text()
    assert "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ 150.000" in log


@needs_tclsh
def test_bitstream_flow_refuses_failed_timing_and_failed_tools(tmp_path, spec_file):
    project = fake_project(tmp_path / "prj")
    _fake_tools(tmp_path / "bin")
    env = _mock_env(tmp_path)  # the recorded timing report misses timing (WNS -0.187 ns)
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("previous good build")
    proc = subprocess.run([sys.executable, BUILD, "bitstream", "--hls-project", project,
                           "--io-spec", spec_file, "--out", out], env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 6
    assert "timing not met at 200.0 MHz (WNS -0.187 ns): lower --clock-mhz" in proc.stderr
    assert (out / "old.txt").exists() and not (out / "tinyicenet.bit").exists()  # untouched
    assert (tmp_path / "out.partial" / "timing_summary.rpt").exists()  # kept for debugging

    bad_bin = tmp_path / "bad_bin"
    _fake_tools(bad_bin, vivado_exit=1)
    env["PATH"] = f"{bad_bin}:{os.environ['PATH']}"
    proc = subprocess.run([sys.executable, BUILD, "bitstream", "--hls-project", project,
                           "--io-spec", spec_file, "--out", out], env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 5
    assert "Vivado block design, implementation and bitstream failed (exit 1)" in proc.stderr
    assert "placement failed" in proc.stderr
    assert (out / "old.txt").exists()


@needs_tclsh
def test_hls_script_under_mock(tmp_path):
    build.tcl_params(tmp_path / "hls_params.tcl", {
        "project_name": "myproject", "firmware": "/p/firmware", "gen_dir": "/w/gen",
        "shell_dir": BOARD_DIR / "hls", "part": "xczu9eg-ffvb1156-2-e", "clock_period": "5.0000",
        "ip_version": "1.0"})
    proc = subprocess.run(["tclsh", DATA / "mock_hls.tcl", BOARD_DIR / "hls" / "build_ip.tcl"],
                          cwd=tmp_path, env=dict(os.environ, MOCK_LOG=str(tmp_path / "log")),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    log = (tmp_path / "log").read_text().splitlines()
    assert log[:2] == ["open_project -reset tinyicenet_axis_prj", "set_top tinyicenet_axis"]
    flags = f"-std=c++0x -I/p/firmware -I/w/gen -I{BOARD_DIR / 'hls'}"
    assert f"add_files /p/firmware/myproject.cpp -cflags {flags}" in log
    assert f"add_files {BOARD_DIR / 'hls' / 'tinyicenet_axis.cpp'} -cflags {flags}" in log
    assert "set_part xczu9eg-ffvb1156-2-e" in log
    assert "create_clock -period 5.0000 -name default" in log
    export = next(i for i, ln in enumerate(log) if ln.startswith("export_design"))
    assert log.index("csynth_design") < export
    assert (tmp_path / "tinyicenet_axis_prj/solution1/impl/ip/component.xml").exists()
