"""One image in, one normalised HxWxC float32 array out: the decode every embedding path shares.

``Preprocessing.eval_transform()`` written out for speed, with the same numbers: PIL's resize
(what torchvision calls for PIL images), then ``x / 255``, minus mean, over std in float32. The
batch embedders (siamkit.inference.decoding), the service's uploads and Lightning's validation
all decode through :class:`ImageDecoder`, so the images a threshold is chosen on are the images
that are served.
"""

from __future__ import annotations

import io
import os
import stat

import numpy as np
from PIL import Image

from siamkit.data.images import MAX_IMAGE_PIXELS, ImageInput, load_image
from siamkit.data.preprocessing import Preprocessing

_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}
# JPEG decoders can scale by 1/2, 1/4 or 1/8 while decoding (Image.draft), for a fraction of the
# work: a 640x480 photo for a 160 px model costs 3.4 instead of 6.4 CPU-ms. We only let them
# shrink to 1.5x the model's input size, so the final resize still antialiases from a larger
# image. Measured on 640x480 photos (benchmarks/embed_speed.py), the embedding moves by about as
# much as re-saving the JPEG at quality 80-95 does (mean distance 0.045), and less than cropping one
# pixel. Off by default, so inference decodes exactly as training did and the model's threshold
# holds; ``SiameseModel.load(..., jpeg_draft=True)`` opts in for speed.
_DRAFT_MARGIN = 1.5


class ImageDecoder:
    """One image in, one normalised HxWxC float32 array out, as ``eval_transform`` computes it."""

    def __init__(self, preprocessing: Preprocessing, draft: bool = False):
        self.size = preprocessing.image_size
        self.resample = _RESAMPLE[preprocessing.interpolation]
        self.mean = np.asarray(preprocessing.mean, dtype=np.float32)
        self.std = np.asarray(preprocessing.std, dtype=np.float32)
        self.mode = preprocessing.mode  # "L" for a one-channel backbone
        self.channels = preprocessing.in_chans
        self.draft = draft

    def open(self, item: ImageInput) -> Image.Image:
        if self.draft and isinstance(item, (str, os.PathLike, bytes, bytearray, memoryview)):
            drafted = self._open_drafted(item)
            if drafted is not None:
                return drafted
        return load_image(item, self.mode)

    def _open_drafted(self, item) -> Image.Image | None:
        """A JPEG decoded at reduced scale, or None to take :func:`load_image`'s path (which
        also words every error, so anything unusual here simply falls back to it)."""
        try:
            if isinstance(item, (str, os.PathLike)):
                if not stat.S_ISREG(os.stat(item).st_mode):  # a FIFO would block open() forever
                    return None
                source = item
            else:
                source = io.BytesIO(bytes(item))
            with Image.open(source) as image:
                width, height = image.size
                if image.format != "JPEG" or width * height > MAX_IMAGE_PIXELS:
                    return None
                wanted = int(self.size * _DRAFT_MARGIN)  # each side is resized to ``size`` (no crop)
                image.draft(self.mode, (wanted, wanted))
                image.load()
                return load_image(image, self.mode)
        except Exception:  # noqa: BLE001 - load_image decodes again and reports it properly
            return None

    def __call__(self, item: ImageInput, out: np.ndarray) -> None:
        image = self.open(item)
        if image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), self.resample)
        pixels = np.asarray(image, dtype=np.float32)
        if pixels.ndim == 2:  # "L": HxW -> HxWx1
            pixels = pixels[:, :, None]
        np.divide(pixels, np.float32(255.0), out=out)
        out -= self.mean
        out /= self.std

    def array(self, item: ImageInput) -> np.ndarray:
        """One image as a new HxWxC float32 array."""
        out = np.empty((self.size, self.size, self.channels), dtype=np.float32)
        self(item, out)
        return out
