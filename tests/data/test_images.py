import io

import numpy as np
import pytest
from PIL import Image

from siamkit.data.images import ImageDecodeError, load_image


def _save(image: Image.Image, path, **kwargs):
    image.save(path, **kwargs)
    return path


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "LA", "1"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode == "I;16" else "PNG"
    image = Image.new(mode, (10, 7))
    path = _save(image, tmp_path / f"x.{fmt.lower()}", format=fmt)
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (10, 7)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    array = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    path = tmp_path / "deep.png"
    Image.fromarray(array).save(path)
    loaded = np.asarray(load_image(path))
    assert loaded.min() == 0 and loaded.max() == 255


def test_exif_rotation_is_applied(tmp_path):
    image = Image.new("RGB", (20, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert load_image(path).size == (10, 20)


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "not a recognised image"), (b"hello, I am text", "not a recognised image")],
)
def test_non_images_name_the_file(tmp_path, content, reason):
    path = tmp_path / "fake.png"
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match=r"fake\.png: " + reason):
        load_image(path)


def test_truncated_jpeg_is_refused(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[:400])
    with pytest.raises(ImageDecodeError, match="cut.jpg"):
        load_image(path)


def test_bytes_arrays_and_pil_inputs():
    buffer = io.BytesIO()
    Image.new("RGB", (5, 5), "red").save(buffer, "PNG")
    assert load_image(buffer.getvalue()).getpixel((0, 0)) == (255, 0, 0)
    assert load_image(np.zeros((4, 4), dtype=np.uint8)).mode == "RGB"
    assert load_image(np.ones((4, 4, 3), dtype=np.float32)).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(Image.new("L", (3, 3))).mode == "RGB"
    with pytest.raises(ImageDecodeError, match="shape"):
        load_image(np.zeros((2, 2, 2, 2)))


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    import siamkit.data.images as images

    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 100)
    path = tmp_path / "big.png"
    Image.new("L", (20, 20)).save(path)
    with pytest.raises(ImageDecodeError, match="pixel limit"):
        load_image(path)


def test_missing_file():
    with pytest.raises(ImageDecodeError, match="not found"):
        load_image("/nonexistent/x.png")
