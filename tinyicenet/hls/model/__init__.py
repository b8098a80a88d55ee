"""Resources and throughput of an hls4ml io_stream design without the vendor tools (modelled).

- :mod:`.graph`: the generated design as a list of streaming layers (from the hls4ml model).
- :mod:`.schedule`: pixel-level timing of the dataflow -> cycles per tile and the FIFO depth each
  stream needs (the maximum occupancy with unbounded FIFOs).
- :mod:`.resources`: LUT, FF, DSP and BRAM per layer and per FIFO, checked against the device.
- :mod:`.planner`: reuse factors and tile size that fit the device and maximise modelled fps.

Every figure from here is labelled ``modelled``; :data:`ASSUMPTIONS` lists what it rests on.
"""

from tinyicenet.hls.model.graph import StreamLayer, layers_from_hls_model
from tinyicenet.hls.model.resources import ASSUMPTIONS as RESOURCE_ASSUMPTIONS
from tinyicenet.hls.model.resources import DesignResources, estimate_resources
from tinyicenet.hls.model.schedule import ASSUMPTIONS as TIMING_ASSUMPTIONS
from tinyicenet.hls.model.schedule import Schedule, schedule

ASSUMPTIONS = TIMING_ASSUMPTIONS + RESOURCE_ASSUMPTIONS

__all__ = ["ASSUMPTIONS", "DesignResources", "Schedule", "StreamLayer", "estimate_resources",
           "layers_from_hls_model", "schedule"]
