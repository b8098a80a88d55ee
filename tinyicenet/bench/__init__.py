"""Benchmarks: measurement windows, energy meters, the result schema and the harness.

Public API::

    from tinyicenet.bench import run_target, BenchConfig      # a whole target run
    from tinyicenet.bench.harness import run_bench            # any Workload with any Meter
    from tinyicenet.bench.meters import open_meter            # begin_window / end_window
    from tinyicenet.bench.schema import load_results, write_results, validate_result

Result files follow ``result_schema.json`` (schema ``tinyicenet-bench``, version 1).
"""

from tinyicenet.bench.harness import BenchConfig, apply_power_csv, run_bench, summarise
from tinyicenet.bench.schema import (
                                     SCHEMA_NAME,
                                     SCHEMA_PATH,
                                     SCHEMA_VERSION,
                                     load_results,
                                     validate_result,
                                     write_results,
)
from tinyicenet.bench.targets import TARGET_NAMES, run_target

__all__ = [
    "BenchConfig", "SCHEMA_NAME", "SCHEMA_PATH", "SCHEMA_VERSION", "TARGET_NAMES",
    "apply_power_csv", "load_results", "run_bench", "run_target", "summarise",
    "validate_result", "write_results",
]
