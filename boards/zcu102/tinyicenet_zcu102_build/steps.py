"""The build's three jobs: check the inputs, build the C simulation, build the bitstream."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tinyicenet_io.atomic import check_dir_target, replace_dir

from .csim import csim_library
from .errors import BuildError
from .hls_project import check_project, load_spec, read_hls_project
from .paths import BIT_NAME, BOARD, HLS_DIR, IP_NAME, IP_VERSION, VIVADO_DIR
from .reports import parse_timing, parse_utilization
from .run import run_logged
from .tcl import net_header, tcl_params
from .tools import find_hls, missing_tools, require_tools


def cmd_check(args) -> int:
    project = read_hls_project(args.hls_project)
    spec = load_spec(args.io_spec)
    check_project(project, spec)
    print(f"hls project: {project.name} ({project.path}), part {project.part}, "
          f"clock {project.clock_period_ns} ns")
    print(f"input stream:  {project.input.describe()} -> {spec.in_word_bits}-bit AXI words")
    print(f"output stream: {project.output.describe()} -> {spec.out_word_bits}-bit AXI words")
    print(f"tile {spec.tile} (halo {spec.halo}, align {spec.align}): {spec.pixels} words per "
          "transfer")
    missing = missing_tools(("csim", "hls", "vivado"))
    print("tools: " + ("all found" if not missing else "missing " + "; ".join(missing)))
    return 0




def cmd_csim(args) -> int:
    require_tools(("csim",))
    project = read_hls_project(args.hls_project)
    spec = load_spec(args.io_spec)
    check_project(project, spec)
    lib = csim_library(project, spec, Path(args.out))
    print(f"[build] wrote {lib}")
    return 0


def cmd_bitstream(args) -> int:
    require_tools(("hls", "vivado"))
    project = read_hls_project(args.hls_project)
    spec = load_spec(args.io_spec)
    check_project(project, spec)
    clock_mhz = args.clock_mhz or 1000.0 / project.clock_period_ns
    if not 10.0 <= clock_mhz <= 500.0:
        raise BuildError(f"clock {clock_mhz:.1f} MHz is outside 10-500 MHz")
    out = Path(args.out).resolve()
    work = Path(args.work).resolve() if args.work else out.with_name(out.name + ".work")
    staging = out.with_name(out.name + ".partial")
    try:  # before hours of Vivado, not at the final rename
        check_dir_target(out)
    except NotADirectoryError:
        raise BuildError(f"--out {out} exists and is not a folder") from None
    shutil.rmtree(staging, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    gen = work / "gen"
    gen.mkdir(exist_ok=True)
    (gen / "tinyicenet_net.h").write_text(net_header(project, spec))

    hls_exe, hls_args = find_hls()
    tcl_params(work / "hls_params.tcl", {
        "project_name": project.name, "firmware": project.firmware.resolve(), "gen_dir": gen,
        "shell_dir": HLS_DIR, "part": BOARD["part"],
        "clock_period": f"{1000.0 / clock_mhz:.4f}",
        "ip_version": IP_VERSION})
    shutil.copy(HLS_DIR / "build_ip.tcl", work / "build_ip.tcl")
    run_logged([hls_exe, *hls_args, "build_ip.tcl"], work, work / "hls.log",
               "HLS synthesis and IP export")
    ip_repo = work / "tinyicenet_axis_prj" / "solution1" / "impl" / "ip"
    if not (ip_repo / "component.xml").is_file():
        raise BuildError(f"HLS finished but exported no IP in {ip_repo}; see {work / 'hls.log'}",
                         code=5)

    tcl_params(work / "vivado_params.tcl", {
        "part": BOARD["part"], "board_part_pattern": BOARD["vivado_board_part"],
        "ip_repo": ip_repo, "ip_name": IP_NAME, "pl_clk_mhz": f"{clock_mhz:.3f}",
        "in_word_bits": spec.in_word_bits, "out_word_bits": spec.out_word_bits,
        "proj_dir": work / "vivado", "bd_name": "tinyicenet_bd", "out_dir": staging,
        "bit_name": BIT_NAME, "jobs": args.jobs})
    run_logged(["vivado", "-mode", "batch", "-nojournal", "-log", str(work / "vivado.log"),
                "-source", str(VIVADO_DIR / "block_design.tcl"), "-tclargs",
                str(work / "vivado_params.tcl")],
               work, work / "vivado.out", "Vivado block design, implementation and bitstream")
    for name in (f"{BIT_NAME}.bit", f"{BIT_NAME}.hwh"):
        if not (staging / name).is_file():
            raise BuildError(f"Vivado finished but wrote no {name} in {staging}", code=5)

    timing = parse_timing((staging / "timing_summary.rpt").read_text())
    util = parse_utilization((staging / "utilization.rpt").read_text())
    summary = {"format": "tinyicenet-build", "board": "zcu102", "part": BOARD["part"],
               "hls_project": str(project.path), "hls_tool": Path(hls_exe).name,
               "clock_mhz": clock_mhz, "timing": timing, "utilization": util,
               "io_spec": spec.to_dict()}
    (staging / "build_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (staging / "io_spec.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    if timing["wns_ns"] < 0 and not args.allow_timing_violation:
        raise BuildError(f"timing not met at {clock_mhz:.1f} MHz (WNS {timing['wns_ns']} ns): "
                         f"lower --clock-mhz; reports kept in {staging}", code=6)
    replace_dir(staging, out)
    print(f"[build] wrote {out / (BIT_NAME + '.bit')}, .hwh, .xsa; WNS {timing['wns_ns']} ns, "
          f"LUT {util['lut']['used']:.0f}/{util['lut']['available']:.0f}")
    return 0
