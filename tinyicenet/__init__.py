"""tinyicenet: quantization-aware tiny U-Net for on-board sea-ice mapping from Sentinel-1 SAR."""

__version__ = "0.1.0"
