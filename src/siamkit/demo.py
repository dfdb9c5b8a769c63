"""``siamkit demo``: the whole workflow offline, on characters drawn in the fonts that ship with
matplotlib.

Each of 48 characters (letters and digits, without look-alikes such as O/0 and l/I/1) is an
identity; its images are the character in each of matplotlib's 21 text fonts (DejaVu Sans, Sans
Mono and Serif, STIX, Computer Modern, with their bold and italic faces), each slightly rotated,
sheared, scaled and shifted. The split keeps whole characters unseen (open-set), so the report
shows how well the model matches a character it never trained on across fonts it looks different
in, the task of the hand-drawn characters, products or whales our users bring. No download: the
fonts are inside the matplotlib wheel.

Measured with ``siamkit demo`` on 2 cores (2026-12-07): test ROC AUC 0.963 against 0.885 for the
untrained backbone, precision@1 0.997 against 0.850, 27 s in all.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from siamkit.pipelines.train_and_evaluate import train_and_evaluate
from siamkit.pipelines.training_run import TrainResult
from siamkit.training.config import load_config

log = logging.getLogger("siamkit")

DEMO_SETTINGS = {
    "image_size": 64,
    "trainable_stages": 3,
    "max_epochs": 6,
    "batch_size": 32,
    "split": "0.5,0.2,0.3",
    "horizontal_flip": False,  # a mirrored "b" is a "d"
    "color_jitter": 0.0,
    "ways": "5,10",
    "episodes": 200,
}

FONTS = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
    "cmr10", "cmss10", "cmtt10", "cmb10", "cmti10",
)
# Upper case without I and O, digits without 0 and 1, lower case letters whose shape differs from
# their capital (no c, o, s, u, v, w, x, z) and from other characters (no l, p).
CHARACTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ" "23456789" "abdefghijkmnqrty"
CANVAS, SAVED_SIZE = 96, 48


def _folder_name(character: str) -> str:
    kind = "upper" if character.isupper() else "lower" if character.islower() else "digit"
    return f"{kind}_{character}"  # upper_A and lower_a differ on a case-insensitive file system too


def render_character(character: str, font: ImageFont.FreeTypeFont, rng: np.random.Generator) -> Image.Image:
    """``character`` centred on white, dark ink, with a small random affine distortion."""
    canvas = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((0, 0), character, font=font)
    draw.text(((CANVAS - (right - left)) / 2 - left, (CANVAS - (bottom - top)) / 2 - top), character, font=font, fill=0)
    angle, scale, shear = np.radians(rng.uniform(-10, 10)), rng.uniform(0.85, 1.1), rng.uniform(-0.15, 0.15)
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    matrix = np.array([[cos, sin + shear, 0.0], [-sin, cos, 0.0]])
    centre = np.array([CANVAS / 2, CANVAS / 2])
    matrix[:, 2] = centre - matrix[:, :2] @ (centre + rng.uniform(-4, 4, size=2))
    canvas = canvas.transform((CANVAS, CANVAS), Image.Transform.AFFINE, tuple(matrix.ravel()), Image.Resampling.BILINEAR, fillcolor=255)
    return canvas.resize((SAVED_SIZE, SAVED_SIZE), Image.Resampling.LANCZOS)


def write_characters(folder: Path, seed: int = 0) -> Path:
    """One folder per character, one PNG per font that has it (a dataset in siamkit's layout)."""
    import matplotlib
    from matplotlib.ft2font import FT2Font

    root = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    paths = {name: root / f"{name}.ttf" for name in FONTS}
    # each font read once: (its glyph table, the font at the drawing size)
    fonts = {name: (FT2Font(str(path)), ImageFont.truetype(str(path), 64)) for name, path in paths.items() if path.is_file()}
    rng = np.random.default_rng(seed)
    for character in CHARACTERS:
        target = folder / _folder_name(character)
        for name, (glyphs, font) in fonts.items():
            if glyphs.get_char_index(ord(character)) == 0:
                continue
            image = render_character(character, font, rng)  # drawn even when saved, so the jitter never depends on what exists
            output = target / f"{name}.png"
            if not output.exists():
                target.mkdir(parents=True, exist_ok=True)
                image.save(output)
    return folder


def run_demo(out: str | Path = "runs/demo", **overrides) -> TrainResult:
    out = Path(out)
    data = write_characters(out / "data")
    images = sum(1 for _ in data.glob("*/*.png"))
    log.info("demo data: %s (%d characters as identities, %d images in matplotlib's fonts)", data, len(CHARACTERS), images)
    config = load_config(None, {**DEMO_SETTINGS, **overrides})
    run = out / "run"
    if (run / "checkpoints" / "last.ckpt").exists() or (run / "model").exists():
        import shutil

        log.info("demo: replacing the earlier demo run in %s", run)
        shutil.rmtree(run)
    return train_and_evaluate(data, run, config)
