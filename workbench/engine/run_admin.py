"""Changes to a run folder as a whole: rename, archive or un-archive, delete for good (moving to the trash
is the desktop app's, through Qt). Each is refused while a process is training the run (its heartbeat).

Archiving leaves the folder where it is and puts a marker file, `archived.txt`, in it. Moving the run into
an `archive/` sub-folder would take it one level deeper, and the paths in its config.yaml are relative to the
folder (its dataset would be lost); with a marker the run stays a folder that holds all of its state, and
un-archiving is removing that one file."""
from __future__ import annotations

import shutil
import time

from workbench.engine.heartbeat import is_training_now
from workbench.engine.runs import RunFolder

ARCHIVED_NAME = "archived.txt"
FORBIDDEN_CHARACTERS = '<>:"/\\|?*'
"""Not allowed in a file name on Windows, or a path separator."""
WINDOWS_DEVICE_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                        *(f"LPT{i}" for i in range(1, 10))}
MAX_NAME_BYTES = 255


class RunChangeRefused(Exception):
    """A run folder cannot be changed as asked; the message says why, for people."""


def is_archived(folder: RunFolder) -> bool:
    """Whether the run has been archived (its folder holds the archive marker)."""
    return (folder.path / ARCHIVED_NAME).is_file()


def refuse_if_training(folder: RunFolder, change: str) -> None:
    """Raise RunChangeRefused when a process is training the run now (`change`: e.g. "renamed")."""
    if is_training_now(folder.path):
        raise RunChangeRefused(f"“{folder.name}” is being trained now and cannot be {change}; stop its "
                               "training first.")


def name_problem(folder: RunFolder, name: str) -> str | None:
    """Why `name` cannot be the new name of the run in `folder` (a folder beside it), or None when it can."""
    if not name.strip():
        return "A run needs a name."
    if name != name.strip():
        return "A run name cannot start or end with a space."
    if name in (".", ".."):
        return f"“{name}” cannot name a folder."
    bad = sorted({c for c in name if c in FORBIDDEN_CHARACTERS or ord(c) < 32})
    if bad:
        return f"A run name cannot contain {' '.join(repr(c)[1:-1] for c in bad)}."
    if name.endswith("."):
        return "A run name cannot end with a dot."
    if name.split(".")[0].upper() in WINDOWS_DEVICE_NAMES:
        return f"“{name}” is a reserved device name on Windows."
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"A run name can have at most {MAX_NAME_BYTES} bytes."
    target = folder.path.parent / name
    if target.exists() and not target.samefile(folder.path):  # a change of case only is fine
        return f"Something named “{name}” already exists in {folder.path.parent}."
    return None


def _require_run(folder: RunFolder) -> None:
    if not folder.exists():
        raise RunChangeRefused(f"{folder.path} is not a run folder (no config.yaml).")


def rename_run(folder: RunFolder, name: str) -> RunFolder:
    """Rename the run folder to `name` (beside where it is); returns the renamed run."""
    _require_run(folder)
    refuse_if_training(folder, "renamed")
    if name == folder.name:
        return folder
    problem = name_problem(folder, name)
    if problem:
        raise RunChangeRefused(problem)
    return RunFolder(folder.path.rename(folder.path.parent / name))


def set_archived(folder: RunFolder, archived: bool) -> None:
    """Archive the run (write its marker) or bring it back (remove the marker)."""
    _require_run(folder)
    refuse_if_training(folder, "archived" if archived else "un-archived")
    marker = folder.path / ARCHIVED_NAME
    if archived:
        marker.write_text(f"Archived on {time.strftime('%Y-%m-%d %H:%M')}. Pretext Workbench lists this run "
                          "only with “Show archived”; delete this file to bring it back.\n", encoding="utf-8")
    else:
        marker.unlink(missing_ok=True)


def check_deletable(folder: RunFolder) -> None:
    """Raise RunChangeRefused unless the run can be deleted now (a run folder, not being trained)."""
    _require_run(folder)
    refuse_if_training(folder, "deleted")


def delete_run(folder: RunFolder) -> None:
    """Delete the run folder and everything in it, for good."""
    check_deletable(folder)
    shutil.rmtree(folder.path)
