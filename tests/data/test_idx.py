"""MNIST-style IDX files (Fashion-MNIST) read as a dataset with its own train/test split."""

import gzip
import json

import numpy as np
import pytest

from siamkit.data.dataset import scan_dataset
from siamkit.data.idx import read_idx
from siamkit.data.images import ImageDecodeError, load_image
from siamkit.data.splits import make_split
from siamkit.errors import SiamkitError


def write_idx(path, array: np.ndarray, compress: bool = True) -> None:
    code = {np.dtype(np.uint8): 0x08}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.tobytes()
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def make_idx_dataset(folder, train=40, test=20, classes=4, seed=0):
    """Fashion-MNIST's file layout: one class is one bright square in its own corner."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for part, count, compress in (("train", train, True), ("t10k", test, False)):
        labels = (np.arange(count) % classes).astype(np.uint8)
        images = rng.integers(0, 60, size=(count, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            row, col = divmod(int(label), 2)
            images[i, row * 14 : row * 14 + 14, col * 14 : col * 14 + 14] += 150
        suffix = ".gz" if compress else ""
        write_idx(folder / f"{part}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(folder / f"{part}-labels-idx1-ubyte{suffix}", labels, compress)
    return folder


def test_idx_folder_scans_with_its_official_split(tmp_path):
    dataset = scan_dataset(make_idx_dataset(tmp_path / "fm"))
    assert len(dataset) == 60 and {r.split for r in dataset.records} == {"train", "test"}
    assert sorted({r.label for r in dataset.records}) == ["0", "1", "2", "3"]
    image = load_image(dataset.records[0].path)
    assert image.mode == "RGB" and image.size == (28, 28)
    split = make_split(dataset, "auto", "0.8,0.2,0.0", 0)
    assert len(split.test) == 20 and all("t10k" in p for p in split.test)
    assert len(split.val) == 8 and not set(split.val) & set(split.train)


def test_virtual_paths_round_trip_through_split_json(tmp_path):
    dataset = scan_dataset(make_idx_dataset(tmp_path / "fm"))
    split = make_split(dataset, "auto", "0.8,0.2,0.0", 0)
    split.save(tmp_path / "split.json", dataset.root)
    saved = json.loads((tmp_path / "split.json").read_text())
    assert saved["test"][0].startswith("t10k-images-idx3-ubyte#")


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big")), "truncated IDX header"),
    (lambda p: p.write_bytes(b"GIF89a not an idx file"), "bad magic number"),
    (lambda p: p.write_bytes(p.read_bytes()[:-10]), "header promises"),
])
def test_damaged_idx_files_are_named(tmp_path, damage, message):
    folder = make_idx_dataset(tmp_path / "fm")
    damage(folder / "t10k-images-idx3-ubyte")
    with pytest.raises(SiamkitError, match=message) as caught:
        scan_dataset(folder)
    assert "t10k-images-idx3-ubyte" in str(caught.value)


def test_missing_labels_file_is_named(tmp_path):
    folder = make_idx_dataset(tmp_path / "fm")
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(SiamkitError, match="no labels file t10k-labels-idx1-ubyte"):
        scan_dataset(folder)


def test_out_of_range_virtual_path_is_a_decode_error(tmp_path):
    folder = make_idx_dataset(tmp_path / "fm")
    with pytest.raises(ImageDecodeError, match="holds images 0..19"):
        load_image(f"{folder}/t10k-images-idx3-ubyte#20")


def test_read_idx_matches_what_was_written(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x-images-idx3-ubyte.gz", array)
    assert np.array_equal(read_idx(tmp_path / "x-images-idx3-ubyte.gz"), array)
