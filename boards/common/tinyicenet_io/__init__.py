"""What tinyicenet's host package and its on-board driver share (imports neither of them).

Modules: ``iospec`` (the io spec: ``io_spec.schema.json`` validated with jsonschema, plus the
rules a schema cannot state), ``fixedpoint`` (the one input quantiser, AXI-stream word packing),
``tiling`` (the halo tile plan), ``ina226`` (finding and reading the INA226 rail monitors),
``vivado`` (Vivado ``report_utilization`` / ``report_timing_summary`` tables), ``gxx`` (hls4ml's
C-simulation g++ flags), ``atomic`` (publishing a finished folder in one rename), ``cli`` (the
``error:`` line and exit code of the driver's and the build's command lines). Importing the
package itself loads nothing heavy, so ``iospec`` works without numpy.
"""

__version__ = "0.1.0"
