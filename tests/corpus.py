"""A corpus of broken and odd files in one place, and what a scan should make of each.

`write_corpus(folder)` writes it and returns, per file (relative posix path, as a scan reports it), an
`Expected`: `good` with the number of images (frames) it gives, `bad` with a keyword its skip reason must
contain, or `ignored` (not an image file: neither used nor reported).

Decisions it pins down: the content decides the format, not the name (a PNG named .jpg or .dcm is read as a
PNG; a DICOM named .png is read as DICOM); a PNG whose pixel data is complete but whose IEND marker was cut
off is read; a DICOM whose SOP class is an image but whose pixel data is missing says it may be truncated.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from data_helpers import DICOM_FILES, copy_dicom, write_bare_dicom, write_png_header_only

HUGE_SIDE = 6000
"""The huge image: 36 megapixels of gray (below the 100 MP bomb limit), a few dozen kB as a PNG."""
EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Expected:
    """What a scan should make of one file: kind 'good' (giving `frames` images), 'bad' (skipped with a reason
    containing `reason`) or 'ignored'."""

    kind: str
    frames: int = 0
    reason: str = ""


def good(frames: int = 1) -> Expected:
    return Expected("good", frames)


def bad(reason: str) -> Expected:
    return Expected("bad", reason=reason)


IGNORED = Expected("ignored")
NON_UTF8_NAME = b"r\xe9sum\xe9_scan.png"
"""A Latin-1 file name, not valid UTF-8 (as old archives and USB sticks carry); written through bytes paths."""


def write_corpus(folder: Path) -> dict[str, Expected]:
    """Write every corpus file under `folder` (created) and return the expected outcome of each."""
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, Expected] = {}
    for writer in (_plain_images, _odd_images, _misnamed, _empty_and_noise, _truncated, _bombs, _dicom, _links,
                   _not_images):
        expected.update(writer(folder))
    return expected


def exif_rotated_jpeg(path: Path, orientation: int) -> None:
    """A 16 x 8 (wide) JPEG whose left half is white, tagged to be shown rotated (EXIF orientation 6 or 8)."""
    pixels = np.zeros((8, 16), dtype=np.uint8)
    pixels[:, :8] = 255
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    Image.fromarray(pixels).convert("RGB").save(path, quality=95, exif=exif)


# --- writers, one group each ----------------------------------------------------------------------

def _random(shape, seed: int, dtype=np.uint8, top: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, top, shape, dtype=dtype)


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _plain_images(folder: Path) -> dict[str, Expected]:
    Image.fromarray(_random((24, 24), 1)).save(folder / "gray.png")
    Image.fromarray(_random((24, 32, 3), 2)).save(folder / "rgb.png")
    Image.fromarray(_random((24, 24, 3), 3)).save(folder / "rgb.jpg", quality=90)
    Image.fromarray(_random((20, 20, 3), 4)).save(folder / "rgb.bmp")
    Image.fromarray(_random((20, 20, 4), 5)).save(folder / "rgba.png")
    sub = folder / "sub"
    sub.mkdir()
    Image.fromarray(_random((16, 16), 6)).save(sub / "nested.png")
    with open(os.path.join(os.fsencode(folder), NON_UTF8_NAME), "wb") as handle:
        handle.write(_encoded(Image.fromarray(_random((16, 16), 7)), "PNG"))
    return {name: good() for name in ("gray.png", "rgb.png", "rgb.jpg", "rgb.bmp", "rgba.png", "sub/nested.png",
                                      os.fsdecode(NON_UTF8_NAME))}


def _odd_images(folder: Path) -> dict[str, Expected]:
    Image.new("L", (1, 1), 128).save(folder / "one_pixel.png")
    Image.new("RGB", (1, 1), (10, 200, 30)).save(folder / "one_pixel.jpg")
    Image.new("L", (1, 2000), 90).save(folder / "one_by_2000.png")
    huge = np.zeros((HUGE_SIDE, HUGE_SIDE), dtype=np.uint8)
    huge[::100] = 255
    Image.fromarray(huge).save(folder / "huge_6000.png")
    Image.fromarray(_random((24, 24), 8, np.uint16, 65536)).save(folder / "gray16.png")
    Image.fromarray(_random((24, 24), 9, np.uint16, 65536)).save(folder / "gray16.tif")
    Image.fromarray(np.linspace(-3, 7, 24 * 24, dtype=np.float32).reshape(24, 24)).save(folder / "float32.tif")
    Image.fromarray(np.full((8, 8), np.nan, dtype=np.float32)).save(folder / "float_all_nan.tif")
    Image.fromarray(np.array([[-70000, 5], [0, 70000]], dtype=np.int32)).save(folder / "int32_signed.tif")
    Image.new("CMYK", (12, 12), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    Image.new("CMYK", (12, 12), (255, 0, 0, 0)).save(folder / "cmyk.tif")
    Image.new("RGB", (12, 12), (0, 0, 200)).convert("P").save(folder / "palette.png")
    Image.new("RGB", (12, 12), (0, 90, 0)).convert("P").save(folder / "palette_transparent.png", transparency=0)
    Image.new("RGB", (12, 12), (200, 0, 0)).convert("P").save(folder / "palette.bmp")
    Image.new("1", (12, 12), 1).save(folder / "bilevel.png")
    Image.new("LA", (12, 12), (70, 128)).save(folder / "gray_alpha.png")
    pages = [Image.new("L", (12, 12), value) for value in (10, 200)]
    pages[0].save(folder / "two_pages.tif", save_all=True, append_images=pages[1:])
    exif_rotated_jpeg(folder / "exif_rotate_6.jpg", 6)
    exif_rotated_jpeg(folder / "exif_rotate_8.jpg", 8)
    names = ("one_pixel.png", "one_pixel.jpg", "one_by_2000.png", "huge_6000.png", "gray16.png", "gray16.tif",
             "float32.tif", "float_all_nan.tif", "int32_signed.tif", "cmyk.jpg", "cmyk.tif", "palette.png",
             "palette_transparent.png", "palette.bmp", "bilevel.png", "gray_alpha.png", "two_pages.tif",
             "exif_rotate_6.jpg", "exif_rotate_8.jpg")
    return {name: good() for name in names}


def _misnamed(folder: Path) -> dict[str, Expected]:
    rgb = Image.fromarray(_random((16, 16, 3), 10))
    (folder / "png_named.jpg").write_bytes(_encoded(rgb, "PNG"))
    (folder / "jpeg_named.png").write_bytes(_encoded(rgb, "JPEG"))
    (folder / "tiff_named.bmp").write_bytes(_encoded(rgb, "TIFF"))
    (folder / "png_named.dcm").write_bytes(_encoded(rgb, "PNG"))
    copy_dicom("CT_small.dcm", folder / "ct_named.png")
    copy_dicom("CT_small.dcm", folder / "ct_no_extension")
    names = ("png_named.jpg", "jpeg_named.png", "tiff_named.bmp", "png_named.dcm", "ct_named.png", "ct_no_extension")
    return {name: good() for name in names}


def _empty_and_noise(folder: Path) -> dict[str, Expected]:
    expected = {}
    for suffix in ("png", "jpg", "tif", "dcm"):
        (folder / f"zero_bytes.{suffix}").write_bytes(b"")
        expected[f"zero_bytes.{suffix}"] = bad("zero-byte")
    for seed, suffix in enumerate(("png", "jpg", "tif", "bmp")):
        (folder / f"noise.{suffix}").write_bytes(b"\0" + np.random.default_rng(seed).bytes(999))
        expected[f"noise.{suffix}"] = bad("not an image")
    (folder / "noise.dcm").write_bytes(np.random.default_rng(9).bytes(1000))
    (folder / "text_named.png").write_text("these are my notes, not a picture\n")
    expected.update({"noise.dcm": bad("not a DICOM file"), "text_named.png": bad("not an image")})
    return expected


def _truncated(folder: Path) -> dict[str, Expected]:
    """Real files cut at several offsets: in the signature, in the header, in the pixel data, at the end."""
    rgb = Image.fromarray(_random((40, 48, 3), 11))
    sources = {"png": _encoded(rgb, "PNG"), "jpg": _encoded(rgb, "JPEG"), "tif": _encoded(rgb, "TIFF"),
               "deflate.tif": _encoded(rgb, "TIFF", compression="tiff_deflate")}
    expected = {}
    for kind, data in sources.items():
        for cut in (8, 16, 60, len(data) // 2, len(data) - 1):
            name = f"cut_at_{cut:05d}.{kind}"
            (folder / name).write_bytes(data[:cut])
            # a PNG cut in its closing IEND marker still holds every pixel: it is read
            expected[name] = good() if kind == "png" and cut == len(data) - 1 else bad("truncated")
    return expected


def _bombs(folder: Path) -> dict[str, Expected]:
    write_png_header_only(folder / "bomb_header.png", 12000, 9000)
    _write_zero_png(folder / "bomb_real.png", 10100, 10000)
    text = PngImagePlugin.PngInfo()
    text.add_text("comment", "x" * (20 * 1024 * 1024), zip=True)
    Image.new("L", (4, 4)).save(folder / "bomb_text_chunk.png", pnginfo=text)
    return {name: bad("decompression bomb") for name in ("bomb_header.png", "bomb_real.png", "bomb_text_chunk.png")}


def _write_zero_png(path: Path, width: int, height: int) -> None:
    """A valid all-black PNG of width x height (a 101 MP bomb in 100 kB), compressed row by row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte + one gray byte per pixel
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def _dicom(folder: Path) -> dict[str, Expected]:
    expected = {}
    shipped = {"CT_small.dcm": good(), "MR_small.dcm": good(), "MR_small_bigendian.dcm": good(),
               "MR_small_jp2klossless.dcm": good(), "MR_small_jpeg_ls_lossless.dcm": good(),
               "MR_small_RLE.dcm": good(), "SC_rgb_jpeg_dcmtk.dcm": good(), "JPGExtended.dcm": good(),
               "image_dfl.dcm": good(), "rtdose.dcm": bad("dose grid"), "SC_rgb_rle_2frame.dcm": good(2),
               "rtplan.dcm": bad("radiotherapy plan"), "MR_truncated.dcm": bad("truncated"),
               "JPEG-lossy.dcm": bad("compressed DICOM")}
    for name, outcome in shipped.items():
        copy_dicom(name, folder / "dicom" / name)
        expected[f"dicom/{name}"] = outcome
    write_bare_dicom("CT_small.dcm", folder / "dicom" / "no_preamble.dcm")
    expected["dicom/no_preamble.dcm"] = good()
    ct = (DICOM_FILES / "CT_small.dcm").read_bytes()
    cuts = {64: "not a DICOM file", 132: "no pixel data", 1500: "no pixel data (truncated", len(ct) // 2: "truncated"}
    for cut, reason in cuts.items():
        name = f"dicom/ct_cut_{cut:05d}.dcm"
        (folder / name).write_bytes(ct[:cut])
        expected[name] = bad(reason)
    return expected


def _links(folder: Path) -> dict[str, Expected]:
    os.symlink("loop_b.png", folder / "loop_a.png")
    os.symlink("loop_a.png", folder / "loop_b.png")
    os.symlink("gone_for_good.png", folder / "dangling.png")
    os.symlink("..", folder / "sub" / "back_to_top")  # a folder link back up: must not loop or count twice
    os.symlink("gray.png", folder / "link_to_gray.png")  # a link to a good file is a file of its own
    return {"loop_a.png": bad("symbolic link loop"), "loop_b.png": bad("symbolic link loop"),
            "dangling.png": bad("broken symbolic link"), "link_to_gray.png": good()}


def _not_images(folder: Path) -> dict[str, Expected]:
    (folder / "notes.txt").write_text("not an image")
    (folder / "README").write_text("x" * 300)
    (folder / ".hidden.png").write_bytes(b"")
    (folder / ".thumbs").mkdir()
    (folder / ".thumbs" / "a.png").write_bytes(b"")
    return {"notes.txt": IGNORED, "README": IGNORED, ".hidden.png": IGNORED, ".thumbs/a.png": IGNORED}
