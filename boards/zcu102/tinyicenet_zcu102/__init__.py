"""tinyicenet's on-board driver for the ZCU102 (PYNQ image, numpy < 2; no tinyicenet import).

Modules: ``iospec`` (the shared I/O format), ``fixedpoint`` (quantise, pack, unpack),
``tiling`` (halo tiles), ``accelerator`` (AXI DMA streaming), ``power`` (INA226 rails),
``bench`` (timed, power-logged scene runs -> bench result JSON), ``emulate`` (a fake PYNQ
whose accelerator is the C simulation or any function, for testing off the board).

This file imports nothing heavy, so ``build.py`` can read io specs without numpy.
"""

__version__ = "0.1.0"
