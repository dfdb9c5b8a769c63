"""The embedding map: a 2-D projection (t-SNE or PCA) of the test embeddings, one colour per
identity, which shows at a glance whether identities form separate clusters. t-SNE shows that
structure better, so by default it is used up to :data:`TSNE_MAX_POINTS` points and PCA above; scikit-learn
is imported only when a map is drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps

from siamkit.errors import SiamkitError
from siamkit.evaluation.canvas import _figure, _save
from siamkit.evaluation.distances import check_embeddings, l2_normalize

# t-SNE shows cluster structure better than PCA; its exact method is quick up to a few hundred
# points (Barnes-Hut was slower than exact at these sizes on 2 busy cores), so above this PCA is used.
TSNE_MAX_POINTS = 400


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
