"""Why a file cannot be read: `UnreadableImage` with a short reason, and the guard against decompression bombs."""
from __future__ import annotations

from pathlib import Path

#: Images above this many pixels are refused (a guard against decompression bombs).
MAX_PIXELS = 100_000_000


class UnreadableImage(Exception):
    """A file that looks like an image but cannot be read; `reason` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe_error(error: BaseException, path: Path) -> str:
    """A one-line reason from an exception, without the file's absolute path."""
    message = str(error).splitlines()[0] if str(error) else ""
    message = message.replace(str(path), "<file>").replace(str(path.resolve()), "<file>")
    message = message[:160]
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def bomb_reason(width: int, height: int) -> str:
    return f"decompression bomb: {width}x{height} pixels exceeds the limit"
