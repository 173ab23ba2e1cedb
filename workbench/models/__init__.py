"""Encoders (backbones by name) and the heads tasks put on them."""
from __future__ import annotations

from workbench.models.backbones import backbone_kind, backbone_names, create_backbone, register_backbone
from workbench.models.encoder import Encoder
from workbench.models.heads import MLPHead
from workbench.models.weights import load_encoder_weights, read_state_dict

__all__ = ["Encoder", "MLPHead", "backbone_kind", "backbone_names", "create_backbone", "register_backbone", "load_encoder_weights",
           "read_state_dict"]
