"""Pretext Workbench: self-supervised pretraining of image encoders, headless or in a desktop app."""

__version__ = "0.1.0"
