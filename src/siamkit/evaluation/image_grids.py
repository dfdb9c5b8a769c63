"""The figures that show test images themselves: a retrieval grid (each query and its nearest
gallery images) and the hardest false matches (different identities the model found most alike),
framed green where the identity is right and red where it is wrong, so a reader sees what the
numbers mean. An image that cannot be read becomes a grey tile rather than a missing figure.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from siamkit.data.images import load_image
from siamkit.errors import SiamkitError
from siamkit.evaluation.canvas import QUERY, RIGHT, WRONG, _figure, _save


def _thumbnail(path, size: int) -> np.ndarray:
    """The image at ``path`` shrunk to fit ``size`` pixels, or a grey tile if it cannot be read."""
    try:
        image = load_image(path)
    except SiamkitError:
        return np.full((size, size, 3), 200, np.uint8)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image)


def _framed(axes, image, colour, caption=None) -> None:
    axes.imshow(image)
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(4)
    if caption:
        axes.set_xlabel(caption, fontsize=8)


def plot_retrieval_grid(out_path, query_paths, hit_paths, hit_correct, hit_distances=None,
                        thumb_size=96, title="Retrieval: nearest gallery images per query") -> Path:
    """One row per query: the query (blue frame) then its top-k hits, green if same identity, red if not."""
    rows = len(query_paths)
    if rows == 0:
        raise SiamkitError("the retrieval grid needs at least one query")
    columns = 1 + max(len(hits) for hits in hit_paths)
    figure = _figure(1.3 * columns, 1.45 * rows + 0.4)
    grid = figure.subplots(rows, columns, squeeze=False)
    for row, query in enumerate(query_paths):
        _framed(grid[row, 0], _thumbnail(query, thumb_size), QUERY, "query")
        for col in range(1, columns):
            axes = grid[row, col]
            if col > len(hit_paths[row]):
                axes.axis("off")
                continue
            caption = f"#{col}"
            if hit_distances is not None:
                caption += f"  d={hit_distances[row][col - 1]:.2f}"
            colour = RIGHT if hit_correct[row][col - 1] else WRONG
            _framed(axes, _thumbnail(hit_paths[row][col - 1], thumb_size), colour, caption)
    figure.suptitle(title)
    return _save(figure, out_path)


def _square(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` centred on a white ``size`` x ``size`` tile (thumbnails keep their aspect ratio)."""
    tile = np.full((size, size, 3), 255, np.uint8)
    height, width = image.shape[:2]
    top, left = (size - height) // 2, (size - width) // 2
    tile[top : top + height, left : left + width] = image[..., :3] if image.ndim == 3 else image[..., None]
    return tile


def _image_name(path, length: int = 22) -> str:
    """``identity/file`` (the leaf folder is the identity), shortened from the left to fit."""
    path = Path(path)
    name = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    return name if len(name) <= length else "…" + name[-(length - 1):]


def plot_hardest_false_matches(out_path, pairs, thumb_size=96, pairs_per_row=4,
                               title="Hardest false matches (different identities, smallest distance)") -> Path:
    """Different-identity pairs the model found most alike; ``pairs`` = [(path_a, path_b, distance), ...].

    Each pair is one framed panel (the two images side by side) with its distance above and
    ``identity/file`` of both images below, so which identities get confused can be read off.
    """
    if not pairs:
        raise SiamkitError("no false-match pairs to draw")
    rows = math.ceil(len(pairs) / pairs_per_row)
    figure = _figure(2.9 * pairs_per_row, 2.1 * rows + 0.5)
    grid = figure.subplots(rows, pairs_per_row, squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    gap = np.full((thumb_size, max(4, thumb_size // 16), 3), 255, np.uint8)
    for number, (path_a, path_b, distance) in enumerate(pairs):
        axes = grid.flat[number]
        axes.axis("on")
        side_by_side = np.concatenate(
            [_square(_thumbnail(path_a, thumb_size), thumb_size), gap, _square(_thumbnail(path_b, thumb_size), thumb_size)],
            axis=1,
        )
        _framed(axes, side_by_side, WRONG, f"{_image_name(path_a)}\n{_image_name(path_b)}")
        axes.set_title(f"d = {distance:.3f}", fontsize=9)
    figure.suptitle(title)
    return _save(figure, out_path)
