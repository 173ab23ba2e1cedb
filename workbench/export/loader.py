"""`load_encoder`: an exported encoder back as a callable torch module, whatever the format."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from workbench.export.description import SPEC_NAME, EncoderDescription
from workbench.export.exporter import FILE_NAMES, build_encoder


class OnnxEncoder(nn.Module):
    """Runs an ONNX export with onnxruntime behind the same interface as the torch encoders."""

    def __init__(self, path: Path, device: torch.device):
        super().__init__()
        import onnxruntime

        wanted = ["CUDAExecutionProvider"] if device.type == "cuda" else []
        providers = [p for p in wanted if p in onnxruntime.get_available_providers()] + ["CPUExecutionProvider"]
        self.session = onnxruntime.InferenceSession(str(path), providers=providers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embeddings of `images`, on the device the images came from."""
        array = images.detach().cpu().float().numpy()
        (embeddings,) = self.session.run(["embeddings"], {"images": np.ascontiguousarray(array)})
        return torch.from_numpy(embeddings).to(images.device)


def load_encoder(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Load an export (its folder, or its model file) onto `device`. The module takes (B, C, S, S) floats in
    [0, 1] and returns (B, D) embeddings; its `input_spec` attribute holds encoder.json, an EncoderDescription.
    An ONNX export runs in onnxruntime: on the GPU when its CUDA provider is installed, else on the CPU."""
    path, device = Path(path), torch.device(device)
    folder = path if path.is_dir() else path.parent
    description = EncoderDescription.read(folder / SPEC_NAME)
    if description is None:
        raise FileNotFoundError(f"{folder} holds no readable {SPEC_NAME}: not a Pretext Workbench export")
    model_file = folder / FILE_NAMES[description.format]
    if description.format == "safetensors":
        module = build_encoder({**description.input, "embed_dim": description.embed_dim}, description.model)
        state = load_file(str(model_file))
        if "mean" in state:  # written before exports kept the library's layout: the whole NormalizedEncoder
            module.load_state_dict(state)
        else:
            module.encoder.body.load_state_dict(state)
        module.to(device)
    elif description.format == "torchscript":
        module = torch.jit.load(str(model_file), map_location=device)
    else:
        module = OnnxEncoder(model_file, device)
    module.eval()
    module.input_spec = description
    return module
