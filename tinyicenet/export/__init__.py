"""Export: the integer reference model (:mod:`.intref`), QONNX / ONNX export, golden files.

The integer reference is the single source of truth for the quantized network's numbers;
every exported form is checked against it.
"""

from tinyicenet.export.intref import (IntLayer, IntModel, from_brevitas, load_intref,
                                      save_intref)

__all__ = ["IntLayer", "IntModel", "from_brevitas", "load_intref", "save_intref"]
