"""The report's content as HTML (one page, relative PNG links) and as Markdown."""

from __future__ import annotations

from html import escape
from typing import Any

from tinyicenet.report.accuracy import data_label
from tinyicenet.report.planning import ONBOARD_BEFORE_NETWORK

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
.verdict{font-size:1.15em;background:#eef5fb;border-left:5px solid #1f77b4;padding:.8em 1em}
table{border-collapse:collapse;font-size:.86em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.l,th.l{text-align:left}
tr.modelled td{background:#fff4e6}tr.paper td{background:#f2f2f2;color:#444}
.tag{font-size:.75em;padding:.05em .4em;border-radius:.3em;color:white}
.tag.measured{background:#1f77b4}.tag.modelled{background:#d9700b}
.tag.paper{background:#8c8c8c}.tag.emulated{background:#6a3d9a}.tag.unavailable{background:#b00000}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.small{font-size:.85em;color:#555}
"""


def num(value: Any, digits: int = 3) -> str:
    """Significant digits with thousands separators; None -> an em dash (a gap)."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if value == 0:
            return "0"
        text = f"{value:.{digits}g}"
        if "e" in text or abs(value) >= 10 ** digits:
            return f"{value:,.0f}"
        return text
    return str(value)


def size(nbytes: float | None) -> str:
    if nbytes is None:
        return "\u2014"
    for unit, factor in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= factor:
            return f"{nbytes / factor:.3g} {unit}"
    return f"{nbytes:.0f} B"


def _span(value: Any, span: Any) -> str:
    """'nominal (low–high)' where a modelled range is known, else the value."""
    if span is None or value is None:
        return num(value)
    return f"{num(value)} ({num(span[0])}\u2013{num(span[1])})"


def _status(r: dict[str, Any]) -> str:
    if r["kind"] in ("modelled", "emulated"):
        return r["kind"]
    return "measured" if r["energy_kind"] == "measured" else f"measured, energy {r['energy_kind']}"


PLATFORM_HEAD = ["platform", "status", "flies", "timing: throughput / latency", "tiles/s",
                 "scenes/s", "ms / scene", "latency p50 / p99 ms", "mJ / tile", "mJ / scene",
                 "mJ / scene above idle", "W avg / idle"]


def platform_table(report: dict[str, Any], rows_in: list[dict] | None = None,
                   paper: bool = True) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Header and (row class, cells) of a platform table: ours (one timing definition), then
    the paper's. Modelled energy shows its range, ``nominal (low–high)``."""
    rows = []
    for r in report["platforms"] if rows_in is None else rows_in:
        tile_span = r.get("energy_tile_range_mj")
        scene_span = r.get("energy_scene_range_mj")
        power_span = r.get("power_range_w")
        rows.append((r["kind"], [
            r["label"], _status(r), "yes" if r.get("flyable") else "no (ground reference)",
            f"{r.get('timing_throughput', 'not stated')} / {r.get('timing_latency', 'not stated')}",
            num(r["tiles_per_s"]), num(r["scenes_per_s"]), num(r["scene_ms"]),
            f"{num(r['latency_p50_ms'])} / {num(r['latency_p99_ms'])}",
            _span(r["energy_tile_mj"], tile_span), _span(r["energy_scene_mj"], scene_span),
            num(r["energy_scene_above_mj"]),
            f"{_span(r['power_w'], power_span)} / {num(r['idle_w'])}"]))
    if paper:
        for p in report["paper_rows"]:
            # the paper's figures exactly as published
            rows.append(("paper", [p["label"], "paper",
                                   "yes" if p["target"] in ("fpga", "jetson") else "no",
                                   "not published", "\u2014", f"{p['fps']:,g} fps*",
                                   "\u2014", "\u2014", "\u2014", f"{p['energy_scene_mj']:,g}*",
                                   "\u2014", "\u2014"]))
    return PLATFORM_HEAD, rows


def emulated_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Emulated runs: what the stand-in did, never compared with a platform."""
    head = ["run", "status", "tiles/s of the stand-in", "meter", "file"]
    rows = [[r["label"], "emulated", num(r["tiles_per_s"]), r["meter"] or "none", r["source"]]
            for r in report.get("emulated", [])]
    return head, rows


def onboard_note(report: dict[str, Any]) -> str:
    d = report["downlink"]
    return (f"The saving assumes that {d.get('onboard_before_network', ONBOARD_BEFORE_NETWORK)} "
            "already run on board before the network; their energy and time are not counted "
            "in any figure here.")


def orbit_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["platform", "busy s / orbit", "J processing", "J idle", "J / orbit", "Wh / day",
            "W average", "keeps up"]
    rows = [[o["label"] + (" (modelled)" if o["energy_kind"] == "modelled" else ""),
             num(o["busy_s_per_orbit"]), num(o["processing_j"]),
             num(o["idle_j"]) if o["includes_idle"] else "not measured", num(o["orbit_j"]),
             num(o["day_wh"]), num(o["average_w"]), num(o["keeps_up"])]
            for o in report["orbit"]]
    return head, rows


def downlink_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    d = report["downlink"]
    head = ["", "per scene", "per orbit", "per day"]
    product = d["product_compressed_bytes"] if d["product_compressed_bytes"] is not None \
        else d["product_bytes"]
    per_orbit = report["plan"]["scenes_per_orbit"]
    rows = [["raw SAR", size(d["raw_bytes"]), size(d["raw_bytes_per_orbit"]),
             size(d["raw_bytes_per_day"])],
            ["SOD product (uint8)", size(d["product_bytes"]), size(d["product_bytes"] * per_orbit),
             size(d["product_bytes"] * per_orbit * report["plan"]["orbits_per_day"])]]
    if d["product_compressed_bytes"] is not None:
        rows.append(["SOD product, compressed", size(product), size(d["product_bytes_per_orbit"]),
                     size(d["product_bytes_per_day"])])
    rows.append(["saved", f"{100 * d['saved_fraction']:.2f} %", "",
                 f"{size(d['saved_bytes_per_day'])} ({d['saved_mbit_per_s']:.3g} Mbit/s on "
                 "average)"])
    return head, rows


def method_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    every = list(report["platforms"]) + [r for g in report.get("other_timing", [])
                                         for r in g["rows"]] + list(report.get("emulated", []))
    for r in every:
        bits = [f"{r['kind']}", f"timing {r.get('timing_throughput', 'not stated')} throughput"]
        if r["kind"] in ("measured", "emulated"):
            meter = r["meter"] or "none"
            if r["energy_kind"] == "unavailable":
                meter += " (no energy reading)"
            bits.append(f"meter {meter}, {r['repetitions']} windows of "
                        f"{num(r['window_s'])} s (median)")
        if r.get("energy_model"):
            bits.append(f"energy model {r['energy_model']}")
        if r["assumptions"]:
            bits.append("assumptions: " + "; ".join(r["assumptions"]))
        if r["verification"]:
            bits.append("verification: " + r["verification"])
        if r["notes"]:
            bits.append("notes: " + "; ".join(r["notes"]))
        bits.append(f"{r['date']}, commit {r['commit'] or 'unknown'}, file {r['source']}")
        lines.append(f"{r['label']}: " + "; ".join(bits))
    return lines


def timing_note(report: dict[str, Any]) -> str:
    t = report.get("comparison_timing", "not stated")
    return (f"Every row of this table times throughput the same way ({t}: "
            + ("calls queued back to back, one synchronisation per window" if t == "queued" else
               "after every call" if t == "synchronised" else "the records do not say")
            + "); 'flies' marks the platforms that can fly (FPGA, Jetson-class), ground "
            "machines are a reference.")


def accuracy_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Every accuracy with the data it was measured on (generated vs AI4Arctic) beside it."""
    return (["model", "precision", "skips", "SOD F1 %", "data"],
            [[a["model"], a["precision"], num(a["skips"]), f"{100 * a['sod_f1']:.1f}",
              data_label(a.get("data"))] for a in report["accuracy"]])


def sweep_table(section: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per trained configuration of a sweep, cheapest first."""
    rows = []
    for p in sorted(section["points"], key=lambda p: p["energy_mj_per_scene"]):
        bits = ", ".join(f"{g} {b}" for g, b in sorted(p["bits"].items()))
        rows.append([p["label"], bits, f"{100 * p['sod_f1']:.1f}",
                     f"{num(p['energy_mj_per_scene'])} ({num(p['energy_mj_per_scene_low'])}"
                     f"\u2013{num(p['energy_mj_per_scene_high'])})",
                     num(p["tiles_per_s"]), num(p["lut"]),
                     "yes" if p["on_front"] else "",
                     "least energy meeting the target" if p["key"] == section["meets_target"]
                     else ("most accurate within budget" if p["chosen"] else "")])
    return (["configuration", "bits", f"SOD F1 % ({section['data_label']})",
             "mJ per scene, modelled (low\u2013high)", "tiles/s (modelled)", "LUT (modelled)",
             "Pareto", ""], rows)


def sweep_notes(section: dict[str, Any]) -> list[str]:
    """What the sweep's numbers are: data, models, range, budget."""
    b = section["budget"]
    return [f"Accuracy {section['accuracy_label']} ({section['metric']}).",
            f"FPGA figures modelled: {', '.join(section['estimators'])}; energy with "
            f"{section['energy_model']}, {section['range']}.",
            f"Budget: {b['what']} \u2264 {num(b['limit'])} {b['unit']}; "
            f"{len(section['not_kept'])} configuration(s) over it or not trained are not "
            f"plotted. Record: {section['source']} ({section['date']}, commit "
            f"{section['commit'] or 'unknown'})."]


def paper_accuracy(report: dict[str, Any]) -> str:
    return (f"The paper reports {100 * report['paper']['sod_f1']:.1f} % SOD F1 "
            f"(data: {report['paper'].get('data', 'AI4Arctic')}).")


def _html_table(head: list[str], rows: list, classed: bool = False) -> str:
    out = ["<table><thead><tr>"]
    out += [f'<th class="{"l" if i == 0 else ""}">{escape(h)}</th>' for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for item in rows:
        cls, cells = item if classed else ("", item)
        out.append(f'<tr class="{cls}">')
        for i, c in enumerate(cells):
            if classed and i == 1:
                tag = c.split(",")[0]
                extra = "unavailable" if "unavailable" in c else ""
                out.append(f'<td class="l"><span class="tag {escape(tag)} {extra}">'
                           f"{escape(c)}</span></td>")
            else:
                out.append(f'<td class="{"l" if i == 0 else ""}">{escape(c)}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def html(report: dict[str, Any]) -> str:
    """The report as one HTML page; images are the PNG files beside it."""
    e = escape
    scene = report["platforms"][0]["scene"]
    plan = report["plan"]
    d = report["downlink"]
    charts = report["charts"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>tinyicenet: fps and energy per Sentinel-1 EW scene</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>tinyicenet: fps and energy per Sentinel-1 EW scene</h1>",
        f"<p class='small'>Generated {e(report['generated'])}, commit "
        f"{e(report['commit'] or 'unknown')}, from {len(report['inputs'])} result file(s).</p>",
        f"<p class='verdict' id='verdict'>{e(report['verdict'])}</p>",
        *[f"<p class='verdict'>{e(sec['sentence'])}</p>" for sec in report.get("sweeps", [])],
        "<h2>Platforms</h2>",
        "<p>Units of work: one tile of 256\u00d7256 pixels, halo included (rows marked "
        "'tile HxW' use another), and one scene: "
        f"{e(scene.get('name') or '')} "
        f"({scene['pixels'][0]}\u00d7{scene['pixels'][1]} px, {scene['tiles']} tiles with a "
        f"{scene.get('halo')} px halo). Orange rows are modelled, not measured; modelled energy "
        "shows nominal (low\u2013high). "
        f"{e(timing_note(report))} "
        "* The paper publishes fps and mJ per scene without the frame or scene size.</p>",
        _html_table(*platform_table(report), classed=True),
        *[f"<h3>Throughput timed '{e(g['timing'])}' (not comparable with the table above)</h3>"
          + _html_table(*platform_table(report, g["rows"], paper=False), classed=True)
          for g in report.get("other_timing", [])],
        *([f"<h3>Emulated runs (not measurements; kept out of the comparison)</h3>"
           + _html_table(*emulated_table(report))] if report.get("emulated") else []),
        "<figure><img src='{}' alt='bar chart of frames per second per platform, ours and the "
        "paper'><figcaption>Throughput: ours in 256\u00d7256 tiles per second, the paper's fps "
        "as published (log scale).</figcaption></figure>".format(e(charts["fps"])),
        "<figure><img src='{}' alt='bar chart of energy per scene per platform, ours and the "
        "paper'><figcaption>Energy per scene: ours per 400 km EW scene (gross; the lighter part "
        "is above idle), the paper's per its unpublished scene (log scale).</figcaption>"
        "</figure>".format(e(charts["energy"])),
        "<h2>Energy per orbit and per day</h2>",
        f"<p>Plan: {num(plan['scenes_per_orbit'])} scenes per orbit, orbit period "
        f"{num(plan['orbit_period_min'])} min ({num(plan['orbits_per_day'])} orbits a day), "
        f"accelerator powered {num(100 * plan['duty_cycle'])} % of each orbit (idle power "
        "counted for the powered time not spent processing).</p>",
        _html_table(*orbit_table(report)) if report["orbit"] else
        "<p>No platform has an energy figure: no orbit energy.</p>",
        "<h2>Downlink</h2>",
        f"<p>Raw SAR: {e(d['raw_assumption'])}. Product: {e(d['product_assumption'])}"
        + (f"; compressed size from {e(d['compressed_source'])}" if d["compressed_source"]
           else "; no product file given, so no compressed size (the saving uses the "
           "uncompressed map)") + f". {e(onboard_note(report))}</p>",
        _html_table(*downlink_table(report)),
        "<h2>Accuracy against energy</h2>",
    ]
    if charts.get("pareto"):
        parts.append("<figure><img src='{}' alt='scatter of SOD F1 against energy per scene "
                     "with the Pareto front'><figcaption>SOD F1 against energy per scene, one "
                     "point per bit width and platform; the paper's point uses its own scene."
                     "</figcaption></figure>".format(e(charts["pareto"])))
    elif report["accuracy"]:
        parts.append("<p>Accuracy results were given, but no bench result measured energy for "
                     "those models.</p>")
    else:
        parts.append("<p>No accuracy results were given.</p>")
    if report["accuracy"]:
        parts.append(_html_table(*accuracy_table(report)))
    parts.append(f"<p class='small'>{e(paper_accuracy(report))}</p>")
    for section in report.get("sweeps", []):
        parts += ["<h3>Precision sweep</h3>",
                  f"<p class='verdict'>{e(section['sentence'])}</p>",
                  "<figure><img src='{}' alt='scatter of SOD F1 against modelled energy per "
                  "scene for every swept configuration, Pareto front marked'><figcaption>"
                  "Accuracy against modelled energy per scene; green: the Pareto front; bars: "
                  "the power model's low\u2013high range.</figcaption></figure>".format(
                      e(section.get("chart") or "")),
                  _html_table(*sweep_table(section))]
        parts += [f"<p class='small'>{e(n)}</p>" for n in sweep_notes(section)]
    parts.append("<h2>Gaps</h2>")
    if report["gaps"]:
        parts.append("<ul>" + "".join(f"<li><b>{e(g['source'])}</b>: {e(g['reason'])}</li>"
                                      for g in report["gaps"]) + "</ul>")
    else:
        parts.append("<p>None.</p>")
    parts.append("<h2>Method and provenance</h2><ul>")
    parts += [f"<li class='small'>{e(line)}</li>" for line in method_lines(report)]
    parts.append("</ul><h2>The paper's figures</h2><ul>")
    parts += [f"<li class='small'>{e(n)}</li>" for n in report["paper"]["notes"]]
    parts.append(f"<li class='small'>Source: {e(report['paper']['source'])}.</li></ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    def clean(c: str) -> str:
        return c.replace("|", "\\|")
    lines = ["| " + " | ".join(map(clean, head)) + " |",
             "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(map(clean, r)) + " |" for r in rows]
    return "\n".join(lines)


def _cells(table: tuple[list[str], list]) -> tuple[list[str], list[list[str]]]:
    head, classed = table
    return head, [cells for _cls, cells in classed]


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown (same content, images linked)."""
    d, plan, charts = report["downlink"], report["plan"], report["charts"]
    head, classed = platform_table(report)
    out = [
        "# tinyicenet: fps and energy per Sentinel-1 EW scene", "",
        f"Generated {report['generated']}, commit {report['commit'] or 'unknown'}.", "",
        f"**{report['verdict']}**", "",
        *[line for sec in report.get("sweeps", []) for line in (f"**{sec['sentence']}**", "")],
        "## Platforms", "",
        timing_note(report) + " Modelled energy shows nominal (low\u2013high).", "",
        _md_table(head, [cells for _cls, cells in classed]), "",
        "\\* The paper publishes fps and mJ per scene without the frame or scene size.", "",
        f"![throughput]({charts['fps']})", "", f"![energy per scene]({charts['energy']})", "",
        "## Energy per orbit and per day", "",
        f"Plan: {num(plan['scenes_per_orbit'])} scenes per orbit, {num(plan['orbit_period_min'])}"
        f" min orbit, powered {num(100 * plan['duty_cycle'])} % of the orbit.", "",
    ]
    out += [_md_table(*orbit_table(report)), ""] if report["orbit"] else \
        ["No platform has an energy figure.", ""]
    for g in report.get("other_timing", []):
        out += [f"### Throughput timed '{g['timing']}' (not comparable with the table above)",
                "", _md_table(*_cells(platform_table(report, g["rows"], paper=False))), ""]
    if report.get("emulated"):
        out += ["### Emulated runs (not measurements; kept out of the comparison)", "",
                _md_table(*emulated_table(report)), ""]
    out += ["## Downlink", "", f"Raw SAR: {d['raw_assumption']}. Product: "
            f"{d['product_assumption']}. {onboard_note(report)}", "",
            _md_table(*downlink_table(report)), "", "## Accuracy against energy", ""]
    if charts.get("pareto"):
        out += [f"![accuracy against energy]({charts['pareto']})", ""]
    if report["accuracy"]:
        out += [_md_table(*accuracy_table(report)), ""]
    else:
        out += ["No accuracy results were given.", ""]
    out += [paper_accuracy(report), ""]
    for section in report.get("sweeps", []):
        out += ["### Precision sweep", "", f"**{section['sentence']}**", "",
                f"![accuracy against modelled energy]({section.get('chart') or ''})", "",
                _md_table(*sweep_table(section)), ""]
        out += [f"- {n}" for n in sweep_notes(section)] + [""]
    out += ["## Gaps", ""]
    out += [f"- **{g['source']}**: {g['reason']}" for g in report["gaps"]] or ["None."]
    out += ["", "## Method and provenance", ""]
    out += [f"- {line}" for line in method_lines(report)]
    out += ["", "## The paper's figures", ""]
    out += [f"- {n}" for n in report["paper"]["notes"]]
    out += [f"- Source: {report['paper']['source']}.", ""]
    return "\n".join(out)
