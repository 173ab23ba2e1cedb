"""Typed configuration: dataclasses with help text and bounds, YAML load/save with validation."""
from workbench.config.errors import ConfigError
from workbench.config.fields import field_info, setting
from workbench.config.io import dump_yaml, load_config, parse_config, save_config, to_dict, validate
from workbench.config.schema import (AugmentConfig, DataConfig, EvalConfig, ModelConfig, OutputConfig,
                                     RunConfig, TaskConfig, TrainConfig)

__all__ = ["ConfigError", "setting", "field_info", "dump_yaml", "load_config", "parse_config", "save_config",
           "to_dict", "validate", "AugmentConfig", "DataConfig", "EvalConfig", "ModelConfig", "OutputConfig",
           "RunConfig", "TaskConfig", "TrainConfig"]
