"""Precision sweep: configurations, their FPGA cost and accuracy, a budgeted search, the Pareto.

- :mod:`.space`: the configuration space (bit widths per group, skips).
- :mod:`.pareto`: the Pareto front of (accuracy up, energy down), a pure function.
- :mod:`.search`: greedy, sensitivity-driven search under an FPGA energy or LUT budget.
- :mod:`.cost`: the FPGA cost of a model (hls4ml planner + power model), modelled.
- :mod:`.models`: a configuration -> the model names/config the trainer builds.
- :mod:`.accuracy`: short QAT from a shared float model + AutoICE score on held-out scenes.
- :mod:`.record`: the sweep record (JSON, ``sweep_schema.json``) and its reader.
- :mod:`.run`: the whole sweep, as ``tinyicenet sweep`` and the demo run it.

Imports are per module (this file imports nothing heavy) so that the report can read the
Pareto function without pulling in training or hls4ml.
"""
