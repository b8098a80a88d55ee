"""FPGA power model (modelled): Zynq UltraScale+ PL static + resource-based dynamic (+ PS).

A leaf module (imports nothing of tinyicenet but :mod:`tinyicenet.errors`): the HLS planner and
the FINN flow both price their own modelled resources with :func:`estimate`. A board measurement
(INA226 rails) always replaces these figures where one exists.
"""

from tinyicenet.power.model import (COEFFICIENTS_PATH, PowerEstimate, Triple, estimate,
                                    load_coefficients, model_name)

__all__ = ["COEFFICIENTS_PATH", "PowerEstimate", "Triple", "estimate", "load_coefficients",
           "model_name"]
