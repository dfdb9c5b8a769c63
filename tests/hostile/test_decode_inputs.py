"""What ``load_image`` and ``scan_dataset`` make of hostile files: the specification, as tables.

Each row is one input a user (or an attacker) can hand siamkit and its one acceptable outcome:
an RGB image of the stated size, or :class:`ImageDecodeError` whose one-line message names the
input and matches the stated reason. Nothing else may escape: no other exception, no hang.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from siamkit.data.dataset import scan_dataset
from siamkit.data.images import ImageDecodeError, load_image
from siamkit.errors import SiamkitError
from tests.conftest import make_identity_images
from tests.hostile import hostile_files as files
from tests.hostile.conftest import permissions_enforced_prefix


@dataclass(frozen=True)
class Decodes:
    size: tuple[int, int]  # (width, height) after EXIF rotation


@dataclass(frozen=True)
class Refused:
    reason: str  # regular expression for the message after "NAME: "


DECODE_CASES = [
    pytest.param("cut.jpg", files.truncated_jpeg, Refused(r"cannot decode image \(image file is truncated"), id="truncated JPEG"),
    pytest.param("cut.png", files.truncated_png, Refused(r"cannot decode image \(image file is truncated"), id="truncated PNG"),
    pytest.param("smear.jpg", files.corrupt_jpeg_scan, Decodes((64, 64)), id="corrupt JPEG scan data (no checksum: decodes smeared)"),
    pytest.param("tables.jpg", files.corrupt_jpeg_tables, Refused(r"cannot decode image \(broken data stream"), id="corrupt JPEG Huffman table reference"),
    pytest.param("frame.jpg", files.corrupt_jpeg_header, Refused("not a recognised image format"), id="corrupt JPEG frame header"),
    pytest.param("zlib.png", files.corrupt_png, Refused(r"cannot decode image \(broken data stream"), id="corrupt PNG pixel stream"),
    pytest.param("zero.jpg", files.zero_bytes, Refused("not a recognised image format"), id="zero-byte file"),
    pytest.param("list.jpg", files.text_file, Refused("not a recognised image format"), id="text named .jpg"),
    pytest.param("print.jpg", files.cmyk_jpeg, Decodes((32, 32)), id="CMYK JPEG"),
    pytest.param("scan.png", files.sixteen_bit_png, Decodes((32, 32)), id="16-bit PNG"),
    pytest.param("dot.png", files.one_pixel_png, Decodes((1, 1)), id="1x1 image"),
    pytest.param("bomb.png", files.bomb_png, Refused("refused as a decompression bomb|image of 20000x20000 pixels is larger than"), id="20000x20000 PNG bomb (48 KB)"),
    pytest.param("liar.png", files.bomb_png_header_only, Refused("refused as a decompression bomb|image of 20000x20000 pixels is larger than"), id="PNG header claiming 20000x20000"),
    pytest.param("upright.jpg", lambda: files.exif_rotated_jpeg(1), Decodes((40, 20)), id="EXIF orientation 1"),
    pytest.param("upside.jpg", lambda: files.exif_rotated_jpeg(3), Decodes((40, 20)), id="EXIF orientation 3 (180)"),
    pytest.param("right.jpg", lambda: files.exif_rotated_jpeg(6), Decodes((20, 40)), id="EXIF orientation 6 (90 cw)"),
    pytest.param("left.jpg", lambda: files.exif_rotated_jpeg(8), Decodes((20, 40)), id="EXIF orientation 8 (90 ccw)"),
    pytest.param("pages.tif", files.tiff_with_sizeless_second_page, Refused(r"cannot decode image \(Missing dimensions"), id="TIFF page without size (fuzz find)"),
]


def _check(outcome, load, name: str) -> None:
    if isinstance(outcome, Decodes):
        image = load()
        assert image.mode == "RGB" and image.size == outcome.size
    else:
        with pytest.raises(ImageDecodeError, match=rf"^{name}: ({outcome.reason})") as caught:
            load()
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name, build, outcome", DECODE_CASES)
def test_a_file_on_disk(tmp_path, name, build, outcome):
    path = tmp_path / name
    path.write_bytes(build())
    _check(outcome, lambda: load_image(path), re.escape(str(path)))


@pytest.mark.parametrize("name, build, outcome", DECODE_CASES)
def test_the_same_bytes_uploaded(name, build, outcome):
    data = build()
    _check(outcome, lambda: load_image(data), re.escape(f"<{len(data)} bytes>"))


@pytest.mark.parametrize(
    "orientation, top_left",
    [(1, "red"), (3, "blue"), (6, "red"), (8, "blue")],
)
def test_exif_rotation_turns_the_pixels_not_just_the_size(orientation, top_left):
    """Left half red, right half blue, as stored; what a person sees decides the top-left colour."""
    pixels = np.asarray(load_image(files.exif_rotated_jpeg(orientation)), dtype=int)
    red, blue = pixels[0, 0, 0] > 200, pixels[0, 0, 2] > 200
    assert (red, blue) == ((True, False) if top_left == "red" else (False, True))


# --- files that are not files -----------------------------------------------------------------


def _fifo(folder: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    path = folder / "pipe.jpg"
    os.mkfifo(path)
    return path


def _symlink_loop(folder: Path) -> Path:
    os.symlink(folder / "b.jpg", folder / "a.jpg")
    os.symlink(folder / "a.jpg", folder / "b.jpg")
    return folder / "a.jpg"


def _dangling(folder: Path) -> Path:
    os.symlink(folder / "gone.png", folder / "link.png")
    return folder / "link.png"


def _a_folder(folder: Path) -> Path:
    (folder / "album.jpg").mkdir()
    return folder / "album.jpg"


PATH_CASES = [
    pytest.param(_fifo, "not a regular file", id="named pipe called .jpg (used to block forever)"),
    pytest.param(_symlink_loop, "Too many levels of symbolic links", id="symlink loop a.jpg <-> b.jpg"),
    pytest.param(_dangling, "file not found", id="dangling symlink"),
    pytest.param(_a_folder, "is a folder", id="folder named .jpg"),
]


@pytest.mark.parametrize("make, reason", PATH_CASES)
def test_paths_that_are_not_image_files(tmp_path, make, reason):
    path = make(tmp_path)
    # In a child process with a timeout: a regression to a blocking open must fail, not hang.
    code = (
        "import sys\nfrom siamkit.data.images import ImageDecodeError, load_image\n"
        "try:\n    load_image(sys.argv[1])\nexcept ImageDecodeError as exc:\n    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith(f"{path}: ") and reason in result.stdout


def test_unreadable_permissions(tmp_path):
    """chmod 000: load_image says "permission denied"; scan_dataset skips the file and goes on."""
    prefix = permissions_enforced_prefix()
    if prefix is None:
        pytest.skip("running as root without setpriv: chmod 000 does not stop root from reading")
    root = make_identity_images(tmp_path / "data", identities=3, per_identity=2)
    secret = root / "id_00" / "secret.png"
    secret.write_bytes(files.one_pixel_png())
    secret.chmod(0)
    code = (
        "import sys\nfrom siamkit.data.dataset import scan_dataset\nfrom siamkit.data.images import ImageDecodeError, load_image\n"
        "try:\n    load_image(sys.argv[1])\nexcept ImageDecodeError as exc:\n    print(exc)\n"
        "dataset = scan_dataset(sys.argv[2])\nprint(len(dataset), dataset.skipped)\n"
    )
    result = subprocess.run([*prefix, sys.executable, "-c", code, str(secret), str(root)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.splitlines() == [f"{secret}: permission denied", f"6 ['{secret}: permission denied']"]


# --- what scan_dataset keeps, skips and refuses ------------------------------------------------


def _base(tmp_path: Path) -> Path:
    return make_identity_images(tmp_path / "data", identities=3, per_identity=2)


def _loop_folder(root: Path) -> None:
    os.symlink(root, root / "id_00" / "back_to_root")  # walking it would never end


def _not_utf8_names(root: Path) -> None:
    (root / "id_01" / files.not_utf8_name(b"caf\xe9")).write_bytes(files.one_pixel_png())
    (root / "id_02" / files.not_utf8_name(b"men\xfc", ".jpg")).write_bytes(files.text_file())


def _small_identities(root: Path) -> None:
    (root / "empty").mkdir()
    (root / "solo").mkdir()
    (root / "solo" / "only.png").write_bytes(files.one_pixel_png())


def _csv_missing_paths(root: Path) -> Path:
    (root / "list.csv").write_text(
        "path,label\nid_00/img_0.png,a\nid_00/img_1.png,a\nid_01/img_0.png,b\nid_01/gone.png,b\n/nowhere/x.png,c\n"
    )
    return root / "list.csv"


def _csv_all_missing(root: Path) -> Path:
    (root / "list.csv").write_text("path,label\nno/1.png,a\nno/2.png,a\n")
    return root / "list.csv"


def _csv_empty_cell(root: Path) -> Path:
    (root / "list.csv").write_text("path,label\nid_00/img_0.png,a\n,a\n")
    return root / "list.csv"


def _csv_latin1(root: Path) -> Path:
    (root / "list.csv").write_bytes("path,label\nid_00/img_0.png,café\n".encode("latin-1"))
    return root / "list.csv"


def _self_link(root: Path) -> Path:
    os.symlink(root.parent / "loop", root.parent / "loop")
    return root.parent / "loop"


@dataclass(frozen=True)
class Scanned:
    records: int  # images kept
    labels: tuple[str, ...]
    skipped: tuple[str, ...] = ()  # fragments each expected in one skipped reason


SCAN_CASES = [
    pytest.param(_loop_folder, Scanned(6, ("id_00", "id_01", "id_02")), id="symlink loop back to the dataset root"),
    pytest.param(
        _not_utf8_names, Scanned(7, ("id_00", "id_01", "id_02"), ("men\udcfc.jpg: not a recognised",)),
        id="non-UTF-8 file names (one good, one bad)",
    ),
    pytest.param(_small_identities, Scanned(7, ("id_00", "id_01", "id_02", "solo")), id="identity folders with 0 and 1 images"),
    pytest.param(
        _csv_missing_paths, Scanned(3, ("a", "b"), ("gone.png: file not found", "/nowhere/x.png: file not found")),
        id="CSV listing missing files",
    ),
    pytest.param(_csv_all_missing, SiamkitError("none of the image files could be decoded"), id="CSV listing only missing files"),
    pytest.param(_csv_empty_cell, SiamkitError("line 3 has an empty path or label"), id="CSV row with an empty path"),
    pytest.param(_csv_latin1, SiamkitError("not a UTF-8 text CSV file"), id="CSV in Latin-1"),
    pytest.param(_self_link, SiamkitError("dataset not found"), id="dataset path is a symlink to itself"),
]


@pytest.mark.parametrize("prepare, expected", SCAN_CASES)
def test_scanning_a_hostile_dataset(tmp_path, prepare, expected):
    root = _base(tmp_path)
    source = prepare(root) or root
    if isinstance(expected, SiamkitError):
        with pytest.raises(SiamkitError, match=str(expected)) as caught:
            scan_dataset(source)
        assert "\n" not in str(caught.value)
        return
    dataset = scan_dataset(source)
    assert len(dataset) == expected.records
    assert tuple(sorted(dataset.identities())) == expected.labels
    assert len(dataset.skipped) == len(expected.skipped)
    for fragment in expected.skipped:
        assert any(fragment in reason for reason in dataset.skipped), dataset.skipped
