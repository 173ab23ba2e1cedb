"""NIfTI volumes (.nii, .nii.gz) through nibabel, as one frame per slice along the third axis.

Every volume is first reoriented to the closest canonical (RAS+) orientation, so all volumes are cut the
same way: for an axial acquisition the slices run foot to head, and each slice is shown as radiology
viewers show axial DICOM (patient's right on the image's left, anterior at the top). Of a 4-D (or 5-D) file,
`data.nifti_volumes` keeps the first volume (`first`) or every volume (`all`): each volume's slices then
carry a "dimension" split value (its number), so `volumes` makes each one a volume of its own (its own 2.5-D
context and sequence), while the group, decided by the file's path, keeps them on one side of a split. Either
way the file's first frame carries a note saying what happened. Values are the scaled data (scl_slope/scl_inter
applied: HU for CT); the window then acts on them as on DICOM (`file` maps cal_min..cal_max exactly,
LINEAR_EXACT; the automatic window is the volume rule of `windows.percentile_range` over each whole volume,
as for a DICOM series).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.config import DataConfig
from workbench.data.frame import Frame, SliceFacts
from workbench.data.unreadable import MAX_PIXELS, UnreadableImage, bomb_reason
from workbench.data.windows import LINEAR_EXACT, FileWindow, foreground_share, percentile_range, window_values

#: Values at or below this are taken as Hounsfield units' air: such a volume's foreground is HU above -500.
HOUNSFIELD_AIR = -900.0


def read_nifti_frames(path: Path, data_cfg: DataConfig) -> list[Frame]:
    """All slices of one NIfTI file's volume (or, with `nifti_volumes: all`, of each of its volumes), in
    canonical orientation, as `Frame`s."""
    import nibabel
    from nibabel.filebasedimages import ImageFileError

    try:
        loaded = nibabel.load(str(path))
    except (ImageFileError, EOFError, ValueError) as error:
        raise UnreadableImage(f"not a readable NIfTI file ({type(error).__name__})") from None
    if not isinstance(loaded, (nibabel.Nifti1Image, nibabel.Nifti2Image)):  # CIFTI-2: grayordinates, no grid
        raise UnreadableImage(f"{type(loaded).__name__.replace('Image', '')} file: surface or grayordinate data, "
                              "not an image volume")
    image = nibabel.as_closest_canonical(loaded)
    shape = image.shape
    if len(shape) < 2:
        raise UnreadableImage("NIfTI file with fewer than 2 dimensions")
    if shape[0] * shape[1] > MAX_PIXELS:
        raise UnreadableImage(bomb_reason(shape[0], shape[1]))
    count = int(np.prod(shape[3:]))
    every = data_cfg.nifti_volumes == "all" and count > 1
    data = image.dataobj if every else image.dataobj[(...,) + (0,) * max(0, len(shape) - 3)]
    volumes = np.asarray(data, dtype=np.float32).reshape(shape[0], shape[1], -1, count if every else 1)
    cal_min, cal_max = float(image.header["cal_min"]), float(image.header["cal_max"])
    file_window = FileWindow((cal_min + cal_max) / 2.0, cal_max - cal_min, LINEAR_EXACT) if cal_max > cal_min else None
    zooms = [float(zoom) for zoom in image.header.get_zooms()]
    spacing = zooms[2] if len(shape) > 2 else 1.0
    in_plane = (zooms[1], zooms[0]) if min(zooms[:2]) > 0 else None  # rows run along y, columns along x
    frames = []
    for number in range(volumes.shape[3]):
        split = (("dimension", str(number + 1)),) if every else ()
        volume = np.nan_to_num(volumes[..., number], nan=0.0, posinf=0.0, neginf=0.0)
        frames.extend(_volume_frames(volume, data_cfg, file_window, spacing, in_plane, split))
    if count > 1:
        frames[0].note = (f"{len(shape)}-D NIfTI: {count} volumes, each read as a volume of its own" if every else
                          f"{len(shape)}-D NIfTI: kept 1 of {count} volumes (the first; the setting "
                          "\"4-D NIfTI volumes: all\" reads each)")
    return frames


def _volume_frames(volume: np.ndarray, data_cfg: DataConfig, file_window: FileWindow | None, spacing: float,
                   in_plane: tuple[float, float] | None, split: tuple[tuple[str, str], ...]) -> list[Frame]:
    """The slices of one canonical 3-D volume (x, y, z), windowed over the whole volume."""
    value_range = percentile_range(volume)
    hounsfield = float(volume.min()) <= HOUNSFIELD_AIR
    frames = []
    for index in range(volume.shape[2]):
        values = np.flip(volume[:, :, index].T, (0, 1))  # rows: anterior to posterior; columns: right to left
        scaled = window_values(values, data_cfg, file_window, value_range)
        foreground = foreground_share(values, scaled, hounsfield)
        facts = SliceFacts(volume_key="", group_key=None, position=index * spacing, orientation=None, split=split)
        frames.append(Frame(np.ascontiguousarray(scaled)[..., None], 16, 1, facts, foreground, spacing=in_plane))
    return frames
