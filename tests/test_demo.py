"""``siamkit demo``'s data: characters in matplotlib's fonts, written offline and reproducibly."""

import numpy as np
from PIL import Image

from siamkit.demo import CHARACTERS, run_demo, write_characters
from tests.conftest import TINY_BACKBONE


def test_every_character_is_an_identity_drawn_in_many_fonts(tmp_path):
    folder = write_characters(tmp_path / "data")
    identities = sorted(p.name for p in folder.iterdir())
    assert len(identities) == len(CHARACTERS) == 48
    assert len({name.lower() for name in identities}) == 48  # distinct on a case-insensitive file system too
    for identity in folder.iterdir():
        images = sorted(identity.glob("*.png"))
        assert len(images) >= 15, identity.name
        pixels = np.asarray(Image.open(images[0]))
        assert pixels.shape == (48, 48) and pixels.min() < 100 and pixels.max() > 200  # dark ink on white
    first = np.asarray(Image.open(folder / "upper_A" / "DejaVuSans.png"), dtype=int)
    other = np.asarray(Image.open(folder / "upper_A" / "DejaVuSerif-Bold.png"), dtype=int)
    assert np.abs(first - other).mean() > 5  # fonts really differ


def test_the_characters_are_the_same_every_time_and_existing_files_are_kept(tmp_path):
    a, b = write_characters(tmp_path / "a"), write_characters(tmp_path / "b")
    for path in a.glob("*/*.png"):
        assert path.read_bytes() == (b / path.relative_to(a)).read_bytes()
    kept = a / "digit_7" / "cmr10.png"
    before = kept.stat().st_mtime_ns
    write_characters(a)
    assert kept.stat().st_mtime_ns == before


def test_the_demo_trains_and_a_second_run_replaces_the_first(tmp_path):
    tiny = {"backbone": TINY_BACKBONE, "pretrained": "none", "image_size": 32, "max_epochs": 1, "evaluate": False,
            "workers": 0, "pairs_per_epoch": 16}
    first = run_demo(tmp_path / "demo", **tiny)
    assert (first.model_folder / "model.safetensors").is_file()
    second = run_demo(tmp_path / "demo", **tiny)
    assert second.model_folder == first.model_folder and (second.model_folder / "config.json").is_file()
