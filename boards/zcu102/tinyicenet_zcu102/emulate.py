"""An emulated tinyicenet overlay: a fake ``pynq`` whose accelerator is a function or the C sim.

Off the board there is no PL, so the driver's whole path (tiling, packing, DMA transfers,
unpacking, stitching, timing, power logging) runs against objects that behave like PYNQ's:

* :func:`allocate` gives numpy arrays with ``physical_address``, ``flush``, ``invalidate``;
* :class:`EmulatedOverlay` has an ``ip_dict`` and an ``axi_dma_0`` whose channels follow the AXI
  DMA's simple-mode rules (one transfer at a time per channel, beat-aligned offsets and
  lengths, the 26-bit length limit, an S2MM error when a packet is longer than the buffer,
  and a hang when waiting for output that can never come);
* the "PL" is a *kernel*: bytes of one tile's input words in, bytes of its output words out.
  :class:`CSimKernel` is the C simulation of the real IP (shell + hls4ml network, built by
  ``build.py csim``); :class:`FunctionKernel` wraps any integer function, e.g. the host's
  integer reference. Its word (un)packing is written independently of
  :mod:`tinyicenet_io.fixedpoint` (shifts on 64-bit chunks, not byte views), so a driver
  packing bug cannot cancel itself out.

:func:`pynq_module` bundles these as a module object to put in ``sys.modules["pynq"]``.
"""

from __future__ import annotations

import ctypes
import os
import types

import numpy as np

from tinyicenet_io.iospec import IOSpec

from .errors import BoardError

MAX_TRANSFER = 2 ** 26 - 1  # AXI DMA buffer length register of 26 bits (block_design.tcl)


class EmulatedBuffer(np.ndarray):
    """A contiguous 'CMA' buffer: an ndarray with PYNQ's buffer methods."""

    _next_address = 0x4000_0000

    def flush(self) -> None:
        self.base_buffer().flushed = True

    def invalidate(self) -> None:
        self.base_buffer().invalidated = True

    def freebuffer(self) -> None:
        self.base_buffer().freed = True

    close = freebuffer

    def base_buffer(self):
        buf = self
        while isinstance(buf.base, EmulatedBuffer):
            buf = buf.base
        return buf


def allocate(shape, dtype=np.uint32, **_kwargs) -> EmulatedBuffer:
    """``pynq.allocate`` look-alike: zeroed, with a fake physical address."""
    buf = np.zeros(shape, dtype=dtype).view(EmulatedBuffer)
    buf.physical_address = EmulatedBuffer._next_address
    buf.flushed = buf.invalidated = buf.freed = False
    EmulatedBuffer._next_address += (buf.nbytes + 0xFFF) & ~0xFFF
    return buf


def _lane_values(words: np.ndarray, count: int, lane: int) -> np.ndarray:
    """Words ``[P, B]`` (bytes) -> signed lane values ``[P, count]`` by 64-bit shifts."""
    padded = np.zeros((words.shape[0], -(-words.shape[1] // 8) * 8), dtype=np.uint8)
    padded[:, : words.shape[1]] = words
    chunks = padded.view("<u8")
    out = np.empty((words.shape[0], count), dtype=np.int64)
    mask = np.uint64((1 << lane) - 1)
    for c in range(count):
        off = c * lane  # 8/16-bit lanes never straddle a 64-bit chunk
        raw = (chunks[:, off // 64] >> np.uint64(off % 64)) & mask
        val = raw.astype(np.int64)
        out[:, c] = np.where(val >= (1 << (lane - 1)), val - (1 << lane), val)
    return out


def _lane_words(values: np.ndarray, word_bytes: int, lane: int) -> np.ndarray:
    """Signed lane values ``[P, count]`` -> words ``[P, word_bytes]`` by 64-bit shifts."""
    n_chunks = -(-word_bytes // 8)
    chunks = np.zeros((values.shape[0], n_chunks), dtype=np.uint64)
    mask = (1 << lane) - 1
    for c in range(values.shape[1]):
        off = c * lane
        raw = (values[:, c].astype(np.int64) & mask).astype(np.uint64)
        chunks[:, off // 64] |= raw << np.uint64(off % 64)
    return chunks.view(np.uint8)[:, :word_bytes].copy()


class FunctionKernel:
    """The PL as a Python function on integers: ``compute(q [1,C,T,T]) -> logits [1,K,T,T]``."""

    def __init__(self, compute, spec: IOSpec):
        self.compute = compute
        self.spec = spec
        self.in_word_bytes = spec.in_word_bytes
        self.out_word_bytes = spec.out_word_bytes
        self.pixels = spec.pixels

    def __call__(self, in_words: np.ndarray) -> np.ndarray:
        s = self.spec
        lane_in = 8 if s.in_bits <= 8 else 16
        lane_out = 8 if s.out_bits <= 8 else 16
        vals = _lane_values(in_words, len(s.channels), lane_in)
        tile = vals.reshape(s.tile, s.tile, len(s.channels)).transpose(2, 0, 1)[None]
        logits = np.asarray(self.compute(tile))
        if logits.shape != (1, s.classes, s.tile, s.tile):
            raise BoardError(f"emulated kernel returned shape {logits.shape}, expected "
                             f"(1, {s.classes}, {s.tile}, {s.tile})")
        flat = logits[0].transpose(1, 2, 0).reshape(s.pixels, s.classes)
        return _lane_words(flat, self.out_word_bytes, lane_out)


class CSimKernel:
    """The PL as the C simulation of the IP (``libtinyicenet_axis_csim.so`` from build.py csim)."""

    def __init__(self, library: str, spec: IOSpec | None = None):
        if not os.path.exists(library):
            raise BoardError(f"{library}: C-simulation library not found (run build.py csim)")
        self.lib = ctypes.CDLL(os.path.abspath(library))
        self.lib.tinyicenet_axis_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        self.lib.tinyicenet_axis_run.restype = ctypes.c_int
        self.in_word_bytes = self.lib.tinyicenet_axis_in_word_bytes()
        self.out_word_bytes = self.lib.tinyicenet_axis_out_word_bytes()
        self.pixels = self.lib.tinyicenet_axis_tile_pixels()
        if spec is not None:
            got = (self.in_word_bytes, self.out_word_bytes, self.pixels)
            want = (spec.in_word_bytes, spec.out_word_bytes, spec.pixels)
            if got != want:
                raise BoardError(f"{library}: IP words/pixels {got} differ from the io spec {want}")

    def __call__(self, in_words: np.ndarray) -> np.ndarray:
        in_words = np.ascontiguousarray(in_words, dtype=np.uint8)
        out = np.zeros((self.pixels, self.out_word_bytes), dtype=np.uint8)
        code = self.lib.tinyicenet_axis_run(in_words.ctypes.data, out.ctypes.data, 1)
        if code != 0:
            raise BoardError(f"C simulation of the IP failed (code {code}: "
                             + ("wrong word count" if code == -1 else "misplaced TLAST") + ")")
        return out


class _Channel:
    """One AXI DMA channel in simple (non scatter-gather) mode."""

    def __init__(self, dma, direction: str, beat_bytes: int, max_size: int):
        self.dma, self.direction = dma, direction
        self.beat_bytes, self._max_size = beat_bytes, max_size
        self.active = None
        self.transfers = 0
        self.running = True

    @property
    def idle(self) -> bool:
        return self.active is None

    def transfer(self, array, start: int = 0, nbytes: int = 0) -> None:
        if not self.idle:
            raise RuntimeError("DMA channel not idle")
        if nbytes == 0:
            nbytes = array.nbytes - start
        if nbytes > self._max_size:
            raise ValueError(f"Transfer size is {nbytes} bytes, which exceeds the maximum DMA "
                             f"buffer size {self._max_size}.")
        if start % self.beat_bytes or nbytes % self.beat_bytes or start + nbytes > array.nbytes:
            raise MemoryError(f"transfer [{start}, {start + nbytes}) of a {array.nbytes}-byte "
                              f"buffer is not aligned to the {self.beat_bytes}-byte stream beat")
        mem = np.asarray(array).reshape(-1).view(np.uint8)[start:start + nbytes]
        self.transfers += 1
        if self.direction == "send":
            self.dma.accept(mem.copy())  # MM2S reads memory as the transfer runs
            self.active = None
        else:
            self.active = mem

    def wait(self) -> None:
        if self.direction == "recv" and self.active is not None:
            self.dma.deliver(self.active)
            self.active = None


class EmulatedDMA:
    """AXI DMA + the network IP between its streams."""

    def __init__(self, kernel, max_size: int = MAX_TRANSFER):
        self.kernel = kernel
        self.in_tile_bytes = kernel.pixels * kernel.in_word_bytes
        self.pending_in = np.zeros(0, dtype=np.uint8)
        self.pending_out = []  # tiles computed and waiting for S2MM
        self.tiles_run = 0
        self.sendchannel = _Channel(self, "send", kernel.in_word_bytes, max_size)
        self.recvchannel = _Channel(self, "recv", kernel.out_word_bytes, max_size)

    def accept(self, data: np.ndarray) -> None:
        self.pending_in = np.concatenate([self.pending_in, data])
        while self.pending_in.size >= self.in_tile_bytes:
            tile = self.pending_in[: self.in_tile_bytes].reshape(self.kernel.pixels, -1)
            self.pending_in = self.pending_in[self.in_tile_bytes:]
            self.pending_out.append(self.kernel(tile).reshape(-1))
            self.tiles_run += 1

    def deliver(self, dest: np.ndarray) -> None:
        if not self.pending_out:
            raise TimeoutError("S2MM waits for a tile whose input was never sent: on the board "
                               "this DMA wait would hang")
        packet = self.pending_out.pop(0)
        if dest.size < packet.size:
            raise RuntimeError(f"DMA S2MM internal error: a {packet.size}-byte packet (TLAST) "
                               f"does not fit the {dest.size}-byte transfer")
        dest[: packet.size] = packet  # TLAST ends the transfer; the rest stays untouched


class EmulatedOverlay:
    """The tinyicenet overlay's shape as PYNQ shows it: an ip_dict and the DMA attribute.

    ``emulated`` tells the driver that no PL runs: its timings and rail readings are of the
    host-side stand-in, and the bench result says so (provenance ``emulated``).
    """

    emulated = True

    def __init__(self, kernel, bitfile: str | None = None, max_size: int = MAX_TRANSFER):
        self.bitfile_name = bitfile
        self.axi_dma_0 = EmulatedDMA(kernel, max_size)
        self.ip_dict = {
            "axi_dma_0": {"type": "xilinx.com:ip:axi_dma:7.1", "fullpath": "axi_dma_0"},
            "tinyicenet_0": {"type": "xilinx.com:hls:tinyicenet_axis:1.0",
                             "fullpath": "tinyicenet_0"},
        }


def pynq_module(kernel) -> types.ModuleType:
    """A stand-in ``pynq`` module: ``Overlay(bitfile)`` builds an :class:`EmulatedOverlay`."""
    module = types.ModuleType("pynq")

    def overlay(bitfile, download=True, **_kwargs):
        if not os.path.exists(bitfile):
            raise OSError(f"Bitstream file {bitfile} does not exist.")
        module.last_overlay = EmulatedOverlay(kernel, bitfile)
        return module.last_overlay

    module.Overlay = overlay
    module.allocate = allocate
    module.EMULATED = True
    module.last_overlay = None
    return module
