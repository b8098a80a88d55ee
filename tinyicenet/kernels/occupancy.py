"""Resident programs per SM on Hopper, from a kernel's registers, warps and shared memory."""

from __future__ import annotations

#: per SM on Hopper (compute capability 9.0): 64 K 32-bit registers, 64 warps, 32 blocks
#: (CUDA C++ Programming Guide, "Compute Capabilities" table); 228 KB of shared memory, of which
#: 1 KB is reserved per block (NVIDIA Hopper Tuning Guide, docs.nvidia.com/cuda/
#: hopper-tuning-guide, "Increased Memory Capacity and High Bandwidth Memory")
REGISTERS_PER_SM = 65536
WARPS_PER_SM = 64
BLOCKS_PER_SM = 32
SHARED_PER_SM = 228 * 1024
SHARED_RESERVED_PER_BLOCK = 1024
#: registers are allocated per warp in units of 256 (8 per thread)
REGISTER_UNIT = 256


def programs_per_sm(registers: int, warps: int, shared: int) -> int:
    """Programs of one kernel that fit an SM at once, by registers, shared memory and warps."""
    per_warp = -(-max(registers, 1) * 32 // REGISTER_UNIT) * REGISTER_UNIT
    return max(0, min(REGISTERS_PER_SM // (per_warp * warps),
                      SHARED_PER_SM // (shared + SHARED_RESERVED_PER_BLOCK),
                      WARPS_PER_SM // warps, BLOCKS_PER_SM))
