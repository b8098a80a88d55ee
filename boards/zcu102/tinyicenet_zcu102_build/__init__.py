"""The ZCU102 build of a tinyicenet hls4ml project (``build.py`` is its command line).

Runs where the AMD tools are, without the tinyicenet package; what it shares with the host and
the driver (the io spec, Vivado report tables) is ``tinyicenet_io``.
"""

from .csim import csim_library
from .errors import BuildError
from .hls_project import FixedType, HlsProject, check_project, load_spec, read_hls_project
from .reports import parse_timing, parse_utilization
from .tcl import net_header, tcl_params
from .tools import find_hls, missing_tools, require_tools

__all__ = ["BuildError", "FixedType", "HlsProject", "check_project", "csim_library", "find_hls",
           "load_spec", "missing_tools", "net_header", "parse_timing", "parse_utilization",
           "read_hls_project", "require_tools", "tcl_params"]
