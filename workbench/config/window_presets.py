"""The named CT windows, in one table: the config's choices and help, the data layer's windowing and the
model card all read them from here."""
from __future__ import annotations

WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (480.0, 2500.0),
    "brain": (40.0, 80.0),
    "liver": (90.0, 150.0),
}
"""Named CT windows as (level, width) in Hounsfield units."""


def describe_presets() -> str:
    """The presets as the help text gives them: "soft_tissue 400/40, lung 1500/-600, ..." (width/level)."""
    return ", ".join(f"{name} {width:g}/{level:g}" for name, (level, width) in WINDOW_PRESETS.items())
