"""Encoders (backbones by name) and the heads tasks put on them."""
from __future__ import annotations

from workbench.models.backbones import (BACKBONE_SETTINGS, BackboneFacts, backbone_kind, backbone_names,
                                       backbone_needs_timm, backbone_patch_size, backbone_problem, backbone_settings,
                                       create_backbone, describe_backbone, register_backbone)
from workbench.models.encoder import Encoder, Family
from workbench.models.timm_nets import adapt_first_conv, adapt_input_channels
from workbench.models.heads import MLPHead
from workbench.models.weights import load_encoder_weights, read_state_dict

__all__ = ["BACKBONE_SETTINGS", "BackboneFacts", "Encoder", "Family", "MLPHead", "adapt_first_conv",
           "adapt_input_channels", "backbone_kind", "backbone_names", "backbone_needs_timm", "backbone_patch_size",
           "backbone_problem", "backbone_settings", "create_backbone", "describe_backbone", "register_backbone",
           "load_encoder_weights", "read_state_dict"]
