"""Training: configs, seeded patch sampling, augmentation, float -> QAT trainer, DDP.

Public API::

    load_config(name_or_path=None, overrides=(), base=None) -> Config
    run_training(config, out_dir, *, resume=None, quiet=False) -> TrainResult
    resume_config(run_dir_or_ckpt, overrides=()) -> Config
    packaged_configs() -> {name: path}
"""

from tinyicenet.train.config import (Config, config_from_dict, load_config, packaged_configs,
                                     validate)
from tinyicenet.train.trainer import TrainResult, find_resume_checkpoint, resume_config, run_training

__all__ = [
    "Config", "TrainResult", "config_from_dict", "find_resume_checkpoint", "load_config",
    "packaged_configs", "resume_config", "run_training", "validate",
]
