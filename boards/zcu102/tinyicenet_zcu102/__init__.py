"""tinyicenet's on-board driver for the ZCU102 (PYNQ image, numpy < 2; no tinyicenet import).

Modules: ``accelerator`` (AXI DMA streaming), ``power`` (INA226 rails),
``bench`` (timed, power-logged scene runs -> bench result JSON), ``emulate`` (a fake PYNQ
whose accelerator is the C simulation or any function, for testing off the board).

What it shares with the host (the io spec and its JSON schema, the input quantiser and word
packing, halo tiling, INA226 discovery) is the ``tinyicenet_io`` package (boards/common), which
``tinyicenet board package`` copies beside this one.
"""

__version__ = "0.1.0"
