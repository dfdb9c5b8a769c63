"""Evaluation of embeddings: verification, retrieval, one-shot and triplet metrics, plots, report.

Everything here is a pure function of embeddings and labels (no model code), so the same
numbers come out whether the embeddings were produced by a trained model, a baseline or a
test fixture. All distances are Euclidean between L2-normalised embeddings.
"""

from siamkit.evaluation.distances import check_embeddings, l2_normalize
from siamkit.evaluation.intervals import identity_bootstrap, wilson_interval
from siamkit.evaluation.one_shot import one_shot_accuracy
from siamkit.evaluation.pairs import make_triplets, make_verification_pairs
from siamkit.evaluation.plots import (
    plot_confusion_matrix,
    plot_distance_histograms,
    plot_embedding_projection,
    plot_hardest_false_matches,
    plot_metric_vs_parameter,
    plot_retrieval_grid,
    plot_roc,
    plot_training_curves,
)
from siamkit.evaluation.report import write_report, write_table_html
from siamkit.evaluation.retrieval import nearest_neighbours, retrieval_metrics
from siamkit.evaluation.summary import evaluate_embeddings, threshold_from_validation, verification_pairs
from siamkit.evaluation.triplets import triplet_accuracy
from siamkit.evaluation.verification import (
    choose_threshold,
    hardest_false_matches,
    pair_distances,
    verification_metrics,
)

__all__ = [
    "check_embeddings",
    "choose_threshold",
    "evaluate_embeddings",
    "hardest_false_matches",
    "identity_bootstrap",
    "l2_normalize",
    "make_triplets",
    "make_verification_pairs",
    "nearest_neighbours",
    "one_shot_accuracy",
    "pair_distances",
    "plot_confusion_matrix",
    "plot_distance_histograms",
    "plot_embedding_projection",
    "plot_hardest_false_matches",
    "plot_metric_vs_parameter",
    "plot_retrieval_grid",
    "plot_roc",
    "plot_training_curves",
    "retrieval_metrics",
    "threshold_from_validation",
    "triplet_accuracy",
    "verification_metrics",
    "verification_pairs",
    "wilson_interval",
    "write_report",
    "write_table_html",
]
