"""Importing this module registers the built-in pretext tasks."""
from __future__ import annotations

from workbench.tasks import byol, rotation, simclr  # noqa: F401
