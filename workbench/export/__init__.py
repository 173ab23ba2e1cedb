"""Exported encoders: writing them (safetensors, TorchScript, ONNX, with a model card) and loading them."""
from workbench.export.exporter import FORMATS, export_run
from workbench.export.loader import load_encoder

__all__ = ["FORMATS", "export_run", "load_encoder"]
