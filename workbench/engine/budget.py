"""Time budgets for the recipe (`train --auto --budget 10m`, the Train page's "Suggest a recipe"): the default, the
range taken, and how a budget is written and read. No torch here: the app's pages import it at launch."""
from __future__ import annotations

import re

BUDGET_UNITS = {"s": 1, "m": 60, "h": 3600}
DEFAULT_BUDGET_S = 600.0
"""The budget when none is given: 10 minutes."""
BUDGET_RANGE_S = (6.0, 86400.0)
"""The budgets taken, 6 seconds to a day; others are refused (the command line and the app's field alike)."""


def parse_budget(text: str) -> float:
    """Seconds in a budget such as "90s", "10m", "1.5h"; ValueError with an example, or the range, for anything
    else."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh])\s*", text.lower())
    if not found or float(found.group(1)) <= 0:
        raise ValueError(f"a time budget is a number above 0 with a unit, s, m or h (e.g. 90s, 10m, 1h); got {text!r}")
    seconds = float(found.group(1)) * BUDGET_UNITS[found.group(2)]
    low, high = BUDGET_RANGE_S
    if not low <= seconds <= high:
        raise ValueError(f"a time budget must be from {format_budget(low)} to {format_budget(high)}; got {text!r}")
    return seconds


def format_budget(seconds: float) -> str:
    """"90 s", "10 min", "1.5 h"."""
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
