import subprocess
import sys

import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.evaluation import (
    plot_confusion_matrix,
    plot_distance_histograms,
    plot_embedding_projection,
    plot_hardest_false_matches,
    plot_metric_vs_parameter,
    plot_retrieval_grid,
    plot_roc,
    plot_training_curves,
)

from .conftest import clustered

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_roc(tmp_path):
    path = plot_roc(tmp_path / "roc.png", [0, 0.001, 0.1, 1], [0, 0.5, 0.9, 1], roc_auc=0.93,
                    operating_point=(0.1, 0.9))
    assert_png(path)


def test_distance_histograms(tmp_path):
    rng = np.random.default_rng(0)
    distances = np.concatenate([rng.uniform(0, 0.8, 50), rng.uniform(0.6, 1.4, 50)])
    same = np.arange(100) < 50
    assert_png(plot_distance_histograms(tmp_path / "hist.png", distances, same, threshold=0.7))


def test_confusion_matrix(tmp_path):
    assert_png(plot_confusion_matrix(tmp_path / "cm.png", [[40, 3], [5, 52]]))


def test_training_curves_with_empty_columns(tmp_path):
    history = tmp_path / "history.csv"
    history.write_text(
        "epoch,train_loss,val_loss,val_roc_auc,lr\n"
        "1,0.9,,,0.001\n"
        "2,0.7,0.8,0.81,0.001\n"
        "3,0.5,0.6,0.88,0.0005\n"
    )
    assert_png(plot_training_curves(tmp_path / "curves.png", history))
    only_loss = tmp_path / "only_loss.csv"
    only_loss.write_text("epoch,train_loss\n1,0.9\n2,0.8\n")
    assert_png(plot_training_curves(tmp_path / "loss.png", only_loss))
    with pytest.raises(SiamkitError):
        plot_training_curves(tmp_path / "x.png", tmp_path / "missing.csv")


def test_retrieval_grid(tmp_path, image_paths):
    queries = image_paths[:2]
    hits = [[image_paths[3], image_paths[1]], [image_paths[4], image_paths[5]]]
    correct = [[True, False], [True, False]]
    distances = [[0.1, 0.5], [0.2, 0.6]]
    path = plot_retrieval_grid(tmp_path / "grid.png", queries, hits, correct, hit_distances=distances)
    assert_png(path)


def test_retrieval_grid_survives_an_unreadable_image(tmp_path, image_paths):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    assert_png(plot_retrieval_grid(tmp_path / "grid.png", [broken], [[image_paths[0]]], [[False]]))


def test_hardest_false_matches(tmp_path, image_paths):
    pairs = [(image_paths[0], image_paths[1], 0.21), (image_paths[2], image_paths[3], 0.3),
             (image_paths[4], image_paths[0], 0.35)]
    assert_png(plot_hardest_false_matches(tmp_path / "false.png", pairs, pairs_per_row=2))


@pytest.mark.parametrize("method", ["pca", "tsne", "auto"])
def test_embedding_projection(tmp_path, method):
    embeddings, labels = clustered(4, 5, noise=0.2)
    path = plot_embedding_projection(tmp_path / f"{method}.png", embeddings, labels, method=method)
    assert_png(path)


def test_embedding_projection_limits_identities(tmp_path):
    embeddings, labels = clustered(30, 2, noise=0.2)
    assert_png(plot_embedding_projection(tmp_path / "p.png", embeddings, labels, method="pca", max_identities=5))


def test_metric_vs_parameter(tmp_path):
    metrics = {"roc_auc": [0.8, 0.9, 0.85], "map_at_r": [0.3, 0.4, None]}
    assert_png(plot_metric_vs_parameter(tmp_path / "lr.png", [1e-4, 1e-3, 1e-2], metrics, "learning rate"))
    assert_png(plot_metric_vs_parameter(tmp_path / "bb.png", ["resnet18", "vit", "cnn"], metrics, "backbone"))


def test_plots_do_not_touch_pyplot(tmp_path):
    # Importing and plotting must leave the caller's matplotlib backend alone.
    code = (
        "import sys; from siamkit.evaluation import plot_confusion_matrix;"
        f"plot_confusion_matrix({str(tmp_path / 'cm.png')!r}, [[1, 2], [3, 4]]);"
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
