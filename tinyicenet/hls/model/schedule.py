"""Pixel-level timing of an hls4ml io_stream dataflow design and its FIFO depths (modelled).

Each hls4ml layer is a process: a sequence of *steps* (loop iterations); a step lasts ``dur``
cycles, reads at most one pixel from each input stream when it starts and writes at most one pixel
to each output stream ``woff`` cycles after it starts. The step structure of every layer kind
follows hls4ml 1.3.0's ``nnet_utils`` (see :data:`ASSUMPTIONS`).

- :func:`asap`: every step as early as its data and its predecessor allow, FIFOs unbounded. Its
  last output gives the tile latency. A sequential loop is the max-plus recurrence
  ``s[k] = max(avail[k], s[k-1] + dur[k-1])``, evaluated in closed form with a cumulative maximum.
  The most pixels a FIFO holds in it is a depth with which no writer ever finds its FIFO full.
- :func:`bounded`: the schedule of a design with given FIFO depths, blocking writes included
  (fixed point of the forward pass); it reports a deadlock when no finite schedule exists.
- FIFO depths: the occupancies of a schedule that is ASAP everywhere except on the chain from
  the input port to the first fork, which runs just in time (:func:`lazy_prefix`). Skip-branch
  FIFOs then hold the pixels written while the deep path computes the other branch (any less
  deadlocks); FIFOs in front of a slow conv hold what its fast producer runs ahead. Because that
  schedule meets every dependency and no FIFO ever exceeds its depth, the design with these
  depths cannot deadlock and keeps the unbounded latency (the hardware runs at least as early
  as any valid schedule). :func:`bounded` re-checks this by simulation in the tests.

hls4ml's own FIFO depth optimisation measures occupancies by RTL co-simulation (vendor tools only);
this computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinyicenet.errors import ExportError
from tinyicenet.hls.model.graph import StreamLayer

#: Cycles per output pixel of a Resource-strategy dense call beyond its ReuseFactor.
RESOURCE_DENSE_OVERHEAD = 4
#: Cycles of a Resource-strategy conv iteration that only shifts the line buffer.
RESOURCE_SHIFT_CYCLES = 2
#: Pipeline depth of a Latency-strategy conv after its last multiply.
LATENCY_PIPELINE_DEPTH = 3
#: FIFO depth margin over the modelled occupancy (hls4ml's optimiser also adds 1).
FIFO_MARGIN = 1
#: Smallest FIFO depth written to the project.
MIN_FIFO_DEPTH = 2
OUTPUT = "<output>"

ASSUMPTIONS = [
    "timing: each hls4ml layer is one process of the top-level DATAFLOW region, all on one clock; "
    "a process step reads one pixel per input stream at its start and writes one pixel per "
    "output stream at its end",
    "Resource-strategy conv/pointwise (hls4ml 1.3 conv_2d_buffer_resource_cl): the pixel loop is "
    f"not pipelined; a pixel that completes a window costs ReuseFactor + "
    f"{RESOURCE_DENSE_OVERHEAD} cycles, any other (padding/edge) pixel "
    f"{RESOURCE_SHIFT_CYCLES} cycles",
    "Latency-strategy conv: pipelined at II = ReuseFactor over every padded input pixel, "
    f"+{LATENCY_PIPELINE_DEPTH} cycles of pipeline depth",
    "activation, zero padding, clone, max-pool and concatenation: II = 1 per pixel, 1 cycle "
    "latency",
    "nearest 2x upsample (resize_nearest): per input row, W reads then 4W writes at one per cycle",
    "input: one pixel per cycle from the DMA when asked; output drained at one pixel per cycle",
    f"FIFO depth = most pixels held (+{FIFO_MARGIN}, at least {MIN_FIFO_DEPTH}) in a schedule "
    "that is as-soon-as-possible except the input chain up to the first fork, which runs just in "
    "time (the DMA holds the input); skip-branch FIFOs keep what the deep path needs",
    "consecutive tiles do not overlap: cycles per tile = latency of one tile (conservative; the "
    "overlapped bound is reported as throughput_bound_cycles)",
]


@dataclass
class Process:
    """One dataflow process as steps: durations, write offsets, pixel read/written per step."""

    name: str
    kind: str
    dur: np.ndarray
    woff: np.ndarray
    reads: list[tuple[str, np.ndarray]]  # (stream, pixel index per step, -1 = no read)
    writes: list[tuple[str, np.ndarray]]  # (stream, pixel index per step, -1 = no write)

    @property
    def work_cycles(self) -> int:
        return int(self.dur.sum())


@dataclass
class StreamInfo:
    name: str
    producer: str
    consumer: str
    pixels: int
    width_bits: int


def issue(avail: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Start times of a sequential loop: ``s[k] = max(avail[k], s[k-1] + dur[k-1])``."""
    avail = np.asarray(avail, dtype=np.int64)
    dur = np.broadcast_to(np.asarray(dur, dtype=np.int64), avail.shape)
    offset = np.zeros(len(avail), dtype=np.int64)
    if len(avail) > 1:
        offset[1:] = np.cumsum(dur[:-1])
    return offset + np.maximum.accumulate(avail - offset)


def latest(deadline: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Latest start times: ``L[k] = min(deadline[k], L[k+1] - dur[k])``."""
    deadline = np.asarray(deadline, dtype=np.int64)
    dur = np.broadcast_to(np.asarray(dur, dtype=np.int64), deadline.shape)
    prefix = np.zeros(len(deadline), dtype=np.int64)
    if len(deadline) > 1:
        prefix[1:] = np.cumsum(dur[:-1])
    # L[k] = prefix[k] + min_{j>=k}(deadline[j] - prefix[j])
    return prefix + np.minimum.accumulate((deadline - prefix)[::-1])[::-1]


def _steps(n: int, value: int) -> np.ndarray:
    return np.full(n, value, dtype=np.int64)


def _index_where(mask: np.ndarray) -> np.ndarray:
    """Per step: the running index of True entries, -1 elsewhere."""
    idx = np.full(len(mask), -1, dtype=np.int64)
    idx[mask] = np.arange(int(mask.sum()))
    return idx


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.divmod(np.arange(h * w), w)


def process_of(layer: StreamLayer) -> Process:
    """The step structure of one layer."""
    kind = layer.kind
    h, w, _ = layer.in_shape
    ho, wo, _ = layer.out_shape
    if kind == "input":
        n = ho * wo
        seq = np.arange(n)
        return Process(layer.name, kind, _steps(n, 1), _steps(n, 1), [],
                       [(layer.outputs[0], seq)])
    if kind in ("elementwise", "clone", "concat"):
        n = h * w
        seq = np.arange(n)
        return Process(layer.name, kind, _steps(n, 1), _steps(n, 1),
                       [(s, seq) for s in layer.inputs], [(s, seq) for s in layer.outputs])
    if kind == "pad":
        top, left = (ho - h) // 2, (wo - w) // 2
        rows, cols = _grid(ho, wo)
        interior = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
        n = ho * wo
        return Process(layer.name, kind, _steps(n, 1), _steps(n, 1),
                       [(layer.inputs[0], _index_where(interior))],
                       [(layer.outputs[0], np.arange(n))])
    if kind == "conv":
        k, rf = layer.kernel, max(1, layer.reuse_factor)
        rows, cols = _grid(h, w)
        valid = (rows >= k - 1) & (cols >= k - 1)
        if layer.strategy == "latency":
            dur = _steps(h * w, rf)
            woff = dur + LATENCY_PIPELINE_DEPTH
        else:
            dur = np.where(valid, rf + RESOURCE_DENSE_OVERHEAD, RESOURCE_SHIFT_CYCLES)
            dur = dur.astype(np.int64)
            woff = dur
        return Process(layer.name, kind, dur, woff, [(layer.inputs[0], np.arange(h * w))],
                       [(layer.outputs[0], _index_where(valid))])
    if kind == "pointwise":
        rf = max(1, layer.reuse_factor)
        n = h * w
        if layer.strategy == "latency":
            dur, woff = _steps(n, rf), _steps(n, rf + LATENCY_PIPELINE_DEPTH)
        else:
            dur = _steps(n, rf + RESOURCE_DENSE_OVERHEAD)
            woff = dur
        seq = np.arange(n)
        return Process(layer.name, kind, dur, woff, [(layer.inputs[0], seq)],
                       [(layer.outputs[0], seq)])
    if kind == "pool":
        p = layer.pool
        rows, cols = _grid(h, w)
        done = ((rows % p == p - 1) & (cols % p == p - 1)
                & (rows < (h // p) * p) & (cols < (w // p) * p))
        n = h * w
        return Process(layer.name, kind, _steps(n, 1), _steps(n, 1),
                       [(layer.inputs[0], np.arange(n))],
                       [(layer.outputs[0], _index_where(done))])
    if kind == "resize":
        if ho % h or wo % w:
            raise ExportError(f"{layer.name}: resize {h}x{w} -> {ho}x{wo} is not an integer "
                              "factor")
        per_row = (ho // h) * wo
        n = h * (w + per_row)
        row_read = np.concatenate([np.ones(w, bool), np.zeros(per_row, bool)])
        is_read = np.tile(row_read, h)
        return Process(layer.name, kind, _steps(n, 1), _steps(n, 1),
                       [(layer.inputs[0], _index_where(is_read))],
                       [(layer.outputs[0], _index_where(~is_read))])
    raise ExportError(f"{layer.name}: no timing model for layer kind {kind!r}")


@dataclass
class Design:
    """The processes of a design (topological order) and its streams."""

    processes: list[Process]
    streams: dict[str, StreamInfo]
    input_stream: str
    output_stream: str


def build_design(layers: list[StreamLayer]) -> Design:
    """Processes and streams of ``layers`` (hls4ml order), plus the output drain."""
    processes = [process_of(layer) for layer in layers]
    producers, streams = {}, {}
    for layer in layers:
        for name in layer.outputs:
            h, w, c = layer.out_shape
            producers[name] = (layer.name, h * w, c * layer.out_bits)
    consumers: dict[str, str] = {}
    for layer in layers:
        for name in layer.inputs:
            if name not in producers:
                raise ExportError(f"{layer.name}: input stream {name} is produced by no layer")
            if name in consumers:
                raise ExportError(f"stream {name} has two readers ({consumers[name]}, "
                                  f"{layer.name}); hls4ml should have inserted a clone")
            consumers[name] = layer.name
    unread = [n for n in producers if n not in consumers]
    if len(unread) != 1:
        raise ExportError(f"the design must have exactly one output stream, found {unread}")
    out = unread[0]
    n_out = producers[out][1]
    processes.append(Process(OUTPUT, "output", _steps(n_out, 1), _steps(n_out, 1),
                             [(out, np.arange(n_out))], []))
    consumers[out] = OUTPUT
    for name, (prod, pixels, width) in producers.items():
        streams[name] = StreamInfo(name, prod, consumers[name], pixels, width)
    inputs = [layer.outputs[0] for layer in layers if layer.kind == "input"]
    if len(inputs) != 1:
        raise ExportError(f"the design must have exactly one input, found {len(inputs)}")
    return Design(processes, streams, inputs[0], out)


@dataclass
class Times:
    """Write and read time of every pixel of every stream, and the steps' start times."""

    write: dict[str, np.ndarray]
    read: dict[str, np.ndarray]
    start: dict[str, np.ndarray]

    def occupancy(self, stream: str) -> int:
        """Most pixels held at once (the read of pixel k sees all writes up to its cycle)."""
        w, r = self.write[stream], self.read[stream]
        written = np.searchsorted(w, r, side="right")
        return int(np.max(written - np.arange(len(r)))) if len(r) else 1


def _forward(design: Design, depths: dict[str, int] | None = None,
             prev_read: dict[str, np.ndarray] | None = None) -> Times:
    write: dict[str, np.ndarray] = {}
    read: dict[str, np.ndarray] = {}
    start: dict[str, np.ndarray] = {}
    for proc in design.processes:
        avail = np.zeros(len(proc.dur), dtype=np.int64)
        for stream, idx in proc.reads:
            has = idx >= 0
            avail[has] = np.maximum(avail[has], write[stream][idx[has]])
        if depths and prev_read:
            for stream, idx in proc.writes:
                d = depths.get(stream)
                if d is None or stream not in prev_read:
                    continue
                blocked = idx >= d  # writing pixel j needs pixel j - d to have been read
                if blocked.any():
                    free = prev_read[stream][idx[blocked] - d] + 1 - proc.woff[blocked]
                    avail[blocked] = np.maximum(avail[blocked], free)
        s = issue(avail, proc.dur)
        start[proc.name] = s
        for stream, idx in proc.reads:
            has = idx >= 0
            r = np.empty(int(has.sum()), dtype=np.int64)
            r[idx[has]] = s[has]
            read[stream] = r
        for stream, idx in proc.writes:
            has = idx >= 0
            wt = np.empty(int(has.sum()), dtype=np.int64)
            wt[idx[has]] = (s + proc.woff)[has]
            write[stream] = wt
    return Times(write, read, start)


def asap(design: Design) -> Times:
    """Unbounded FIFOs, every step as early as possible."""
    return _forward(design)


class Deadlock(Exception):
    """The FIFO depths admit no finite schedule (or none within the iteration budget)."""


def bounded(design: Design, depths: dict[str, int], max_passes: int = 400) -> Times:
    """Schedule with blocking writes into FIFOs of the given depths (fixed-point iteration).

    Times only grow from pass to pass; a finite fixed point is the bounded design's schedule.
    If the output is later than ``growth`` times the unbounded latency (or no fixed point within
    ``max_passes``), the depths deadlock.
    """
    times = _forward(design)
    limit = 4 * int(times.read[design.output_stream][-1]) + 1000
    for _ in range(max_passes):
        nxt = _forward(design, depths, times.read)
        if int(nxt.read[design.output_stream][-1]) > limit:
            raise Deadlock("the schedule grows without bound")
        same = all(np.array_equal(nxt.read[s], times.read[s]) for s in times.read)
        times = nxt
        if same:
            return times
    raise Deadlock(f"no fixed point after {max_passes} passes")


def skip_streams(design: Design) -> set[str]:
    """Streams read by a concatenation (skip branches and upsampled branches)."""
    concat = {p.name for p in design.processes if p.kind == "concat"}
    return {n for n, s in design.streams.items() if s.consumer in concat}


def fork_free_prefix(design: Design) -> list[Process]:
    """Processes that, with all their ancestors, have one output stream and one input at most:
    the chain from the input port to the first fork (input, requantise, padding, first conv...).
    Delaying them only delays that chain (no other path can be waiting on them)."""
    prefix = []
    for proc in design.processes:
        if proc.name == OUTPUT or len(proc.writes) != 1 or len(proc.reads) > 1:
            break
        if proc.reads and design.streams[proc.reads[0][0]].producer != (
                prefix[-1].name if prefix else None):
            break
        prefix.append(proc)
    return prefix


def lazy_prefix(design: Design, early: Times) -> Times:
    """ASAP everywhere except the fork-free prefix, which runs as late as its consumer's ASAP
    reads allow: the input then arrives just in time (the DMA holds it) instead of piling up in
    front of the first conv. Same output times as ASAP; a valid unbounded schedule."""
    write = dict(early.write)
    read = dict(early.read)
    start = dict(early.start)
    for proc in reversed(fork_free_prefix(design)):
        stream, idx = proc.writes[0]
        has = idx >= 0
        deadline = np.full(len(proc.dur), np.iinfo(np.int64).max // 4, dtype=np.int64)
        deadline[has] = read[stream][idx[has]] - proc.woff[has]
        s = latest(deadline, proc.dur)
        start[proc.name] = s
        wt = np.empty(int(has.sum()), dtype=np.int64)
        wt[idx[has]] = (s + proc.woff)[has]
        write[stream] = wt
        for in_stream, in_idx in proc.reads:
            got = in_idx >= 0
            r = np.empty(int(got.sum()), dtype=np.int64)
            r[in_idx[got]] = s[got]
            read[in_stream] = r
    return Times(write, read, start)


@dataclass
class Schedule:
    """The timed design: tile latency, per-process busy time and FIFO depths."""

    design: Design
    latency_cycles: int
    unbounded_latency_cycles: int
    throughput_bound_cycles: int
    depths: dict[str, int]
    asap_occupancy: dict[str, int]
    process_cycles: dict[str, int] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=lambda: list(ASSUMPTIONS))

    def fifo_depths(self) -> dict[str, int]:
        """Stream -> FIFO depth for every internal stream (not the top-level ports)."""
        return {n: d for n, d in self.depths.items()
                if n not in (self.design.input_stream, self.design.output_stream)}

    @property
    def streams(self) -> dict[str, StreamInfo]:
        return self.design.streams


def latency_only(layers: list[StreamLayer]) -> int:
    """Cycles per tile of ``layers`` with unbounded FIFOs (cheap enough for a planner loop)."""
    design = build_design(layers)
    return int(asap(design).read[design.output_stream][-1]) + 1


def schedule(layers: list[StreamLayer]) -> Schedule:
    """Time a design (layers in hls4ml's order) and size its FIFOs.

    The depths are the occupancies of :func:`lazy_prefix`'s schedule (+ margin): a schedule
    that meets every data dependency with no FIFO ever fuller than its depth exists, so the
    design cannot deadlock and is at least as fast as that schedule (the ASAP latency).
    """
    design = build_design(layers)
    early = asap(design)
    free = int(early.read[design.output_stream][-1]) + 1
    timed = lazy_prefix(design, early)
    depths = {n: max(MIN_FIFO_DEPTH, timed.occupancy(n) + FIFO_MARGIN) for n in design.streams}
    return Schedule(
        design=design, latency_cycles=free, unbounded_latency_cycles=free,
        throughput_bound_cycles=max(p.work_cycles for p in design.processes),
        depths=depths, asap_occupancy={n: early.occupancy(n) for n in design.streams},
        process_cycles={p.name: p.work_cycles for p in design.processes})
