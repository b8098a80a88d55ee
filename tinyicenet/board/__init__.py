"""The host's side of the ZCU102 path: the io spec it writes (``io_spec``), the folder copied to
the board with the expected logits (``package``), and running the board's build (``build``).

What the host shares with the on-board driver is the ``tinyicenet_io`` package (boards/common),
never the driver itself (``boards/zcu102/tinyicenet_zcu102`` is read as files to copy).
"""

from tinyicenet.board.build import run_build
from tinyicenet.board.io_spec import io_spec_dict, io_spec_from_project, make_io_spec, validated
from tinyicenet.board.package import build_package

__all__ = ["build_package", "io_spec_dict", "io_spec_from_project", "make_io_spec", "run_build",
           "validated"]
