"""The evaluation figures: each function writes one PNG sized for the HTML report and returns its path.

Figures are built with matplotlib's object API on an explicit Agg canvas rather than through
``pyplot``: no global backend is switched (a notebook or GUI importing siamkit keeps its own),
no window is ever opened, and no figure lingers in pyplot's registry to leak memory in long
sweeps.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from siamkit.data.images import load_image
from siamkit.errors import SiamkitError
from siamkit.evaluation.distances import check_embeddings, l2_normalize

DPI = 100
RIGHT, WRONG, QUERY = "#1a9850", "#d73027", "#4575b4"
# t-SNE shows cluster structure better than PCA; its exact method is quick up to a few hundred
# points (Barnes-Hut was slower than exact at these sizes on 2 busy cores), so above this PCA is used.
TSNE_MAX_POINTS = 400


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, out_path) -> Path:
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=DPI)
    return path


def plot_roc(out_path, fpr, tpr, roc_auc=None, operating_point=None, title="ROC curve") -> Path:
    """ROC on linear and log false-accept axes; ``operating_point`` = (fpr, tpr) at the threshold.

    The log panel matters because deployments live at FPR 1e-2 .. 1e-4, invisible on a linear axis.
    """
    fpr, tpr = np.asarray(fpr, dtype=float), np.asarray(tpr, dtype=float)
    figure = _figure(10, 4.2)
    label = "model" if roc_auc is None else f"model (AUC = {roc_auc:.4f})"
    for axes, log_x in zip(figure.subplots(1, 2), (False, True)):
        shown = fpr > 0 if log_x else np.ones_like(fpr, bool)
        axes.plot(fpr[shown], tpr[shown], color=QUERY, lw=2, label=label)
        if log_x:
            axes.set_xscale("log")
            smallest = fpr[shown].min() if shown.any() else 1e-3
            axes.set_xlim(max(1e-6, min(1e-3, smallest)), 1)
        else:
            axes.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance")
            axes.set_xlim(0, 1)
        if operating_point is not None and (not log_x or operating_point[0] > 0):
            axes.plot(*operating_point, "o", color=WRONG, ms=8,
                      label=f"threshold (FPR {operating_point[0]:.3f}, TPR {operating_point[1]:.3f})")
        axes.set_ylim(0, 1.01)
        axes.set_xlabel("false positive rate (different pairs accepted)" + (", log scale" if log_x else ""))
        axes.set_ylabel("true positive rate (same pairs accepted)")
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right", fontsize=8)
    figure.suptitle(title)
    return _save(figure, out_path)


def plot_distance_histograms(out_path, distances, same, threshold=None, title="Pair distances") -> Path:
    """Distance histograms of same vs different pairs, with the decision threshold as a line."""
    distances, same = np.asarray(distances, dtype=float), np.asarray(same, dtype=bool)
    figure = _figure(7, 4.2)
    axes = figure.subplots()
    bins = np.linspace(distances.min(), distances.max() + 1e-9, 50)
    axes.hist(distances[same], bins=bins, alpha=0.6, color=RIGHT, label=f"same identity ({same.sum()})")
    axes.hist(distances[~same], bins=bins, alpha=0.6, color=WRONG, label=f"different identity ({(~same).sum()})")
    if threshold is not None:
        axes.axvline(threshold, color="black", ls="--", lw=1.5, label=f"threshold = {threshold:.3f}")
    axes.set_xlabel("Euclidean distance between L2-normalised embeddings")
    axes.set_ylabel("pairs")
    axes.set_title(title)
    axes.legend(fontsize=8)
    return _save(figure, out_path)


def plot_confusion_matrix(out_path, matrix, class_names=("different", "same"), title="Confusion matrix") -> Path:
    """A 2x2 confusion matrix, rows = truth, columns = prediction, as [[tn, fp], [fn, tp]]."""
    matrix = np.asarray(matrix, dtype=float)
    figure = _figure(4.6, 4)
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    for (row, col), value in np.ndenumerate(matrix):
        dark = value > matrix.max() / 2
        axes.text(col, row, f"{int(value)}", ha="center", va="center", color="white" if dark else "black", fontsize=13)
    ticks = range(len(class_names))
    axes.set_xticks(ticks, [f"predicted {name}" for name in class_names])
    axes.set_yticks(ticks, [f"true {name}" for name in class_names])
    axes.set_title(title)
    return _save(figure, out_path)


def _read_history(history_csv) -> dict[str, list[float]]:
    path = Path(history_csv)
    if not path.is_file():
        raise SiamkitError(f"{path}: training history not found")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "epoch" not in rows[0]:
        raise SiamkitError(f"{path}: expected a CSV with an 'epoch' column and one row per epoch")

    def column(name):
        values = []
        for row in rows:
            text = (row.get(name) or "").strip()
            values.append(float(text) if text else math.nan)
        return values

    return {name: column(name) for name in ("epoch", "train_loss", "val_loss", "val_roc_auc", "lr")}


def plot_training_curves(out_path, history_csv, title="Training curves") -> Path:
    """Loss, validation ROC AUC and learning rate per epoch from ``history.csv``; blanks are gaps."""
    history = _read_history(history_csv)
    epoch = np.asarray(history["epoch"])
    figure = _figure(12, 3.8)
    panels = figure.subplots(1, 3)
    series = [
        (panels[0], "train_loss", "train loss", QUERY),
        (panels[0], "val_loss", "validation loss", WRONG),
        (panels[1], "val_roc_auc", "validation ROC AUC", RIGHT),
        (panels[2], "lr", "learning rate", "black"),
    ]
    for axes, key, label, colour in series:
        values = np.asarray(history[key])
        if np.isfinite(values).any():
            axes.plot(epoch, values, marker="o", ms=3, color=colour, label=label)
    auc = np.asarray(history["val_roc_auc"])
    if np.isfinite(auc).any():
        # Training keeps the checkpoint of this epoch: mark it, so a reader sees what was kept
        # and whether later epochs only made things worse.
        best = epoch[int(np.nanargmax(auc))]
        for number, axes in enumerate(panels):
            axes.axvline(best, color="grey", ls=":", lw=1.5,
                         label=f"best: epoch {best:g} (kept)" if number == 1 else None)
    for axes, ylabel in zip(panels, ("loss", "ROC AUC", "learning rate")):
        axes.set_xlabel("epoch")
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize=8)
        else:
            axes.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=axes.transAxes, color="grey")
    lr = np.asarray(history["lr"])
    if np.isfinite(lr).any() and np.nanmin(lr) > 0:
        panels[2].set_yscale("log")
    figure.suptitle(title)
    return _save(figure, out_path)


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


def _project(points: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, str]:
    if method == "auto":
        method = "tsne" if 5 <= len(points) <= TSNE_MAX_POINTS else "pca"
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (len(points) - 1) / 3.0)))
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", method="exact",
                    random_state=seed)
        return tsne.fit_transform(points), f"t-SNE (perplexity {perplexity:.0f})"
    if method != "pca":
        raise SiamkitError(f"unknown projection method {method!r}; use 'auto', 'pca' or 'tsne'")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed).fit(points)
    explained = pca.explained_variance_ratio_.sum()
    return pca.transform(points), f"PCA ({explained:.0%} of variance)"


def plot_embedding_projection(out_path, embeddings, labels, method="auto", max_identities=20, max_per_identity=20,
                              seed=0, title="Embedding projection") -> Path:
    """2-D map of the embeddings of the ``max_identities`` largest identities, one colour each.

    Colours stop meaning anything beyond ~20 identities, so the rest are left out, and each
    identity shows at most ``max_per_identity`` images (seeded sample); the title gives the
    counts. ``method``: "pca", "tsne" or "auto" (t-SNE up to 400 points, else PCA).
    """
    array, label_array = check_embeddings(embeddings, labels)
    names, codes, counts = np.unique(label_array, return_inverse=True, return_counts=True)
    codes = codes.reshape(-1)
    shown = np.argsort(-counts, kind="stable")[:max_identities]
    rng = np.random.default_rng(seed)
    keep = np.concatenate([
        np.sort(rng.permutation(np.flatnonzero(codes == identity))[:max_per_identity]) for identity in shown
    ])
    if len(keep) < 3:
        raise SiamkitError("an embedding projection needs at least 3 embeddings")
    points, method_label = _project(l2_normalize(array[keep]), method, seed)
    figure = _figure(7.5, 6)
    axes = figure.subplots()
    palette = colormaps["tab20"]
    for colour_number, identity in enumerate(shown):
        mine = codes[keep] == identity
        axes.scatter(points[mine, 0], points[mine, 1], s=18, color=palette(colour_number % 20),
                     label=str(names[identity])[:20], alpha=0.85)
    axes.set_xlabel(f"{method_label} component 1")
    axes.set_ylabel(f"{method_label} component 2")
    axes.set_title(f"{title}: {method_label}\n{len(keep)} images of {len(shown)} of {len(names)} identities")
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), title="identity")
    return _save(figure, out_path)


def plot_metric_vs_parameter(out_path, parameter_values, metrics, parameter_name, title=None) -> Path:
    """Metrics of a sweep against the swept parameter; ``metrics`` = {metric name: [value per run]}.

    Non-numeric parameter values (backbone names, loss names) are placed evenly as categories.
    """
    values = list(parameter_values)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    x = np.asarray(values, dtype=float) if numeric else np.arange(len(values))
    order = np.argsort(x, kind="stable")
    figure = _figure(9, 4.2)
    axes = figure.subplots()
    for name, ys in metrics.items():
        ys = np.asarray([math.nan if y is None else y for y in ys], dtype=float)
        axes.plot(x[order], ys[order], marker="o", label=name)
    if not numeric:
        axes.set_xticks(x, [str(v) for v in values], rotation=20)
    elif len(x) > 1 and x.min() > 0 and x.max() / x.min() >= 10:
        axes.set_xscale("log")  # learning rates, weight decays: spread over decades
    axes.set_xlabel(parameter_name)
    axes.set_ylabel("metric value")
    axes.set_title(title or f"Metrics vs {parameter_name}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))  # beside the lines, never over them
    return _save(figure, out_path)
