"""tinyicenet: quantization-aware tiny U-Net for on-board sea-ice mapping from Sentinel-1 SAR."""

import warnings

__version__ = "0.1.0"

# Brevitas announces an optional CUDA package on every import; it is irrelevant to our
# per-tensor fixed-point quantizers and would otherwise precede every CLI message.
warnings.filterwarnings("ignore", message="fast_hadamard_transform package not found")
