"""The error raised for a bad configuration: every message names the field path."""
from __future__ import annotations


class ConfigError(ValueError):
    """One or more invalid settings; `problems` holds (field path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{path}: {message}" for path, message in problems))
