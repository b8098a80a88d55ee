"""Where the build's inputs lie: ``board.json``, the HLS shell (``hls/``), the Vivado Tcl
(``vivado/``).

In the source tree they are beside this package (``boards/zcu102``); an installed wheel carries
them in ``_resources`` (pyproject.toml force-includes them).
"""

from __future__ import annotations

import json
from pathlib import Path

_HERE = Path(__file__).resolve().parent
BOARD_DIR = _HERE / "_resources" if (_HERE / "_resources").is_dir() else _HERE.parent
HLS_DIR = BOARD_DIR / "hls"
VIVADO_DIR = BOARD_DIR / "vivado"
BOARD = json.loads((BOARD_DIR / "board.json").read_text())
BIT_NAME = "tinyicenet"
IP_NAME = "tinyicenet_axis"
IP_VERSION = "1.0"
