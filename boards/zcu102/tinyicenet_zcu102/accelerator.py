"""Stream tiles through the AXI DMA of the tinyicenet overlay (PYNQ).

The overlay (boards/zcu102/vivado/block_design.tcl) has one AXI DMA without scatter-gather:
MM2S feeds the network IP's input stream, S2MM takes its output stream. One transfer carries one
tile; the IP ends each output tile with TLAST. Input and output live in two contiguous buffers
(``pynq.allocate``) holding up to ``max_tiles`` tiles; the tile transfers are pipelined: the next
tile's input is sent while the IP still drains the current one.

``overlay`` and ``allocate`` are parameters so that tests can pass an emulated accelerator
(:mod:`tinyicenet_zcu102.emulate`); on the board, :func:`load_overlay` gives the real ones.
"""

from __future__ import annotations

import time

import numpy as np

from tinyicenet_io.fixedpoint import pack_tiles, unpack_outputs
from tinyicenet_io.iospec import IOSpec

from .errors import BoardError


def load_overlay(bitfile: str, download: bool = True):
    """Load the bitstream (its .hwh beside it) with PYNQ; return ``(overlay, allocate)``."""
    try:
        from pynq import Overlay, allocate  # noqa: PLC0415 - only on the board
    except ImportError:
        raise BoardError("pynq is not installed: run the driver on the ZCU102's PYNQ "
                         "image") from None
    try:
        return Overlay(bitfile, download=download), allocate
    except Exception as exc:  # pynq raises many types (IOError, RuntimeError, ...) for a bad file
        raise BoardError(f"{bitfile}: cannot load the overlay "
                         f"({type(exc).__name__}: {exc})") from None


def find_dma(overlay, name: str | None = None):
    """The AXI DMA driver object of the overlay (by ip_dict name, or the only AXI DMA)."""
    ip_dict = getattr(overlay, "ip_dict", {}) or {}
    if name is None:
        dmas = [key for key, ip in ip_dict.items() if "axi_dma" in str(ip.get("type", ""))]
        if len(dmas) != 1:
            raise BoardError(f"overlay has {len(dmas)} AXI DMA cores "
                             f"({', '.join(dmas) or 'none'}); name the one to use")
        name = dmas[0]
    elif name not in ip_dict:
        raise BoardError(f"overlay has no IP named {name!r} (has: {', '.join(sorted(ip_dict))})")
    obj = overlay
    for part in name.split("/"):  # hierarchies appear as attributes, e.g. hier_0/axi_dma_0
        obj = getattr(obj, part)
    return obj


class DmaAccelerator:
    """Run quantized tiles through the network IP; integers in, integers out."""

    def __init__(self, overlay, spec: IOSpec, allocate, max_tiles: int = 16,
                 dma_name: str | None = None, clock=time.perf_counter):
        if max_tiles < 1:
            raise BoardError("max_tiles must be at least 1")
        self.spec = spec
        self.clock = clock
        # the emulated overlay (emulate.py) marks itself; a real PYNQ overlay has no such flag
        self.emulated = bool(getattr(overlay, "emulated", False))
        dma = find_dma(overlay, dma_name)
        self.send, self.recv = dma.sendchannel, dma.recvchannel
        self.in_tile_bytes = spec.pixels * spec.in_word_bytes
        self.out_tile_bytes = spec.pixels * spec.out_word_bytes
        self.max_tiles = max_tiles
        self.in_buf = allocate(shape=(max_tiles, spec.pixels, spec.in_word_bytes), dtype=np.uint8)
        self.out_buf = allocate(shape=(max_tiles, spec.pixels, spec.out_word_bytes), dtype=np.uint8)

    def _sync_to_device(self) -> None:
        flush = getattr(self.in_buf, "flush", None)  # cacheable buffers: write back the cache
        if flush is not None:
            flush()

    def _sync_from_device(self) -> None:
        invalidate = getattr(self.out_buf, "invalidate", None)
        if invalidate is not None:
            invalidate()

    def _stream(self, n: int) -> None:
        """Run tiles 0..n-1 of the buffers, overlapping tile i+1's input with tile i's output."""
        ib, ob = self.in_tile_bytes, self.out_tile_bytes
        self.recv.transfer(self.out_buf, start=0, nbytes=ob)
        self.send.transfer(self.in_buf, start=0, nbytes=ib)
        for i in range(n):
            self.send.wait()
            if i + 1 < n:
                self.send.transfer(self.in_buf, start=(i + 1) * ib, nbytes=ib)
            self.recv.wait()
            if i + 1 < n:
                self.recv.transfer(self.out_buf, start=(i + 1) * ob, nbytes=ob)

    def run_words(self, n: int) -> float:
        """Stream the first ``n`` packed tiles already in ``in_buf``; return seconds taken."""
        if not 1 <= n <= self.max_tiles:
            raise BoardError(f"cannot run {n} tiles with buffers for {self.max_tiles}")
        self._sync_to_device()
        t0 = self.clock()
        self._stream(n)
        elapsed = self.clock() - t0
        self._sync_from_device()
        return elapsed

    def run(self, q_tiles: np.ndarray) -> np.ndarray:
        """Quantized tiles ``[N, C, T, T]`` -> integer logits ``[N, K, T, T]``."""
        n = q_tiles.shape[0]
        out = np.empty((n, self.spec.classes, self.spec.tile, self.spec.tile),
                       dtype=np.int8 if self.spec.out_bits <= 8 else np.int16)
        for lo in range(0, n, self.max_tiles):
            hi = min(n, lo + self.max_tiles)
            pack_tiles(q_tiles[lo:hi], self.spec, out=self.in_buf[: hi - lo])
            self.run_words(hi - lo)
            out[lo:hi] = unpack_outputs(np.asarray(self.out_buf[: hi - lo]), self.spec)
        return out

    def latencies(self, count: int) -> list:
        """Seconds per single-tile call (send + receive, not pipelined), for ``count`` calls."""
        times = []
        for _ in range(count):
            times.append(self.run_words(1))
        return times

    def close(self) -> None:
        for buf in (self.in_buf, self.out_buf):
            for method in ("freebuffer", "close"):  # pynq 2.x / 3.x
                free = getattr(buf, method, None)
                if free is not None:
                    free()
                    break
