"""FINN+ as the second FPGA compiler: its flow on TinyIceNet, verified, with its own estimates.

Public API::

    env_dir() / setup_env() / available()       # the separate FINN+ environment (env.py)
    build_finn(ckpt_or_qonnx, out, tile=256, target_fps=500, ...) -> verification dict

FINN+ (``finn-plus`` on PyPI) runs in its own virtual environment created from
``requirements.txt``; tinyicenet exchanges only files with it (``flow.py`` writes the job,
``runner.py`` runs in the FINN environment, ``flow.py`` checks its outputs against the integer
reference). Nothing in the main environment imports FINN.
"""

from tinyicenet.finn.env import available, env_dir, setup_env
from tinyicenet.finn.flow import build_finn

__all__ = ["available", "build_finn", "env_dir", "setup_env"]
