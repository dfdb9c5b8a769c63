"""The decode pipeline: same numbers as the folder's torchvision transform, skipping what is broken."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from siamkit.data.images import load_image
from siamkit.data.preprocessing import Preprocessing
from siamkit.errors import SiamkitError
from siamkit.inference.embedder import BatchEmbedder, pipelined_decode

PREPROCESSING = Preprocessing(48, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _photo(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, size=(6, 8, 3)).astype(np.uint8))
    return coarse.resize((width, height), Image.Resampling.BICUBIC).convert(mode)


def _reference(items) -> torch.Tensor:
    transform = PREPROCESSING.eval_transform()
    return torch.stack([transform(load_image(item)) for item in items])


def test_decoding_equals_the_torchvision_transform(tmp_path):
    items = []
    for number, (size, mode, suffix) in enumerate([((40, 30), "RGB", "png"), ((48, 48), "L", "png"), ((50, 64), "RGB", "jpg")]):
        path = tmp_path / f"img{number}.{suffix}"
        _photo(*size, seed=number, mode=mode).save(path)
        items.append(str(path))
    items += [_photo(60, 40), np.asarray(_photo(30, 30, seed=5)), (tmp_path / "img0.png").read_bytes()]
    (batch,) = list(pipelined_decode(items, PREPROCESSING, batch_size=16, draft=False))
    assert isinstance(batch.images, np.ndarray)  # numpy: the onnxruntime path never imports torch
    images = torch.from_numpy(batch.images)  # ... and torch reads it without a copy, channels-last
    assert images.is_contiguous(memory_format=torch.channels_last) and images.data_ptr() == batch.images.ctypes.data
    assert torch.equal(images, _reference(items)) and batch.positions == list(range(len(items)))


def test_large_jpegs_are_drafted_closely_and_keep_their_exif_rotation(tmp_path):
    photo = _photo(400, 300)
    plain, rotated = tmp_path / "plain.jpg", tmp_path / "rotated.jpg"
    photo.save(plain, quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    photo.save(rotated, quality=95, exif=exif)
    items = [str(plain), str(rotated), rotated.read_bytes()]
    (drafted,) = list(pipelined_decode(items, PREPROCESSING, batch_size=8, draft=True))
    exact, images = _reference(items), torch.from_numpy(drafted.images)
    assert not torch.equal(images, exact)  # the reduced-scale decode was used ...
    assert (images - exact).abs().mean() < 0.05  # ... and sees the same picture
    assert (images[1] - exact[0]).abs().mean() > 0.2  # the rotation was applied


def test_small_images_are_never_drafted(tmp_path):
    path = tmp_path / "small.jpg"
    _photo(64, 64).save(path)
    (batch,) = list(pipelined_decode([str(path)], PREPROCESSING, batch_size=8, draft=True))
    assert torch.equal(torch.from_numpy(batch.images), _reference([str(path)]))


class _MeanColour(BatchEmbedder):
    preprocessing = PREPROCESSING
    batch_size = 2

    def embed_tensors(self, images):
        vectors = images.mean(dim=(2, 3)).numpy()
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_unreadable_images_are_skipped_or_named(tmp_path):
    good = tmp_path / "good.png"
    _photo(32, 32).save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    items = [str(good), str(broken), str(tmp_path / "missing.png"), io.BytesIO(good.read_bytes()).getvalue()]
    embedded = _MeanColour().embed_readable(items)
    assert embedded.positions == [0, 3] and embedded.embeddings.shape == (2, 3)
    assert sorted(embedded.errors) == [1, 2] and "broken.png" in embedded.errors[1]
    with pytest.raises(SiamkitError, match="broken.png"):
        _MeanColour().embed(items)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
def test_a_fifo_named_like_a_jpeg_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    embedded = _MeanColour().embed_readable([str(fifo)])
    assert embedded.positions == [] and "not a regular file" in embedded.errors[0]
