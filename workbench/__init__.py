"""Pretext Workbench: self-supervised pretraining of image encoders, headless or in a desktop app."""

__version__ = "0.1.0"


def load_encoder(path, device="cpu"):
    """Load an exported encoder onto `device` (see `workbench.export.load_encoder`)."""
    from workbench.export import load_encoder as load

    return load(path, device)
