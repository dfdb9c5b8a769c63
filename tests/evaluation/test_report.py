import re

import numpy as np
import pytest

from siamkit.evaluation import (
    evaluate_embeddings,
    plot_confusion_matrix,
    plot_roc,
    threshold_from_validation,
    write_report,
    write_table_html,
)

from .conftest import clustered


def metrics_for_report():
    val_embeddings, val_labels = clustered(8, 3, noise=0.3, seed=1)
    test_embeddings, test_labels = clustered(8, 3, noise=0.3, seed=2)
    threshold = threshold_from_validation(val_embeddings, val_labels)
    metrics = evaluate_embeddings(test_embeddings, test_labels, threshold, "max_accuracy", ways=(5,), episodes=40)
    baseline = evaluate_embeddings(np.random.default_rng(0).normal(size=(24, 8)), test_labels, threshold,
                                   "max_accuracy", ways=(5,), episodes=40)
    baseline["name"] = "ImageNet backbone, no training"
    metrics["baseline"] = baseline
    metrics["protocol"] = {"open_set": True, "train_identities": 30, "val_identities": 8, "test_identities": 8}
    metrics["model"] = {"name": "<b>siamese</b> resnet18", "embedding_size": 128}
    metrics["timing"] = {"train_seconds": 12.5}
    return metrics


def test_report_is_self_contained(tmp_path):
    metrics = metrics_for_report()
    roc = metrics["verification"]["roc"]
    plots = {
        "roc": plot_roc(tmp_path / "roc.png", roc["fpr"], roc["tpr"], roc_auc=metrics["verification"]["roc_auc"]),
        "confusion_matrix": plot_confusion_matrix(tmp_path / "cm.png", metrics["verification"]["confusion_matrix"]),
        "training_curves": tmp_path / "never_written.png",  # missing plots are left out
        "retrieval_grid": None,
    }
    sweep = {"title": "Per-identity results", "columns": ["identity", "recall"], "rows": [{"identity": "x", "recall": 0.5}]}
    out = write_report(tmp_path / "report" / "report.html", metrics, plots, "Evaluation <test>", extra_tables=[sweep])
    text = out.read_text(encoding="utf-8")

    assert text.count("data:image/png;base64,") == 2
    assert f"{metrics['verification']['roc_auc']:.4f}" in text
    assert f"{metrics['retrieval']['map_at_r']:.4f}" in text
    assert f"{metrics['baseline']['verification']['roc_auc']:.4f}" in text
    assert "ImageNet backbone, no training" in text  # baseline column
    assert "Open-set" in text and "train identities: 30" in text
    assert "Skipped" not in text
    assert "precision    recall" in text  # sklearn's classification report
    assert "Per-identity results" in text
    # Escaped text, and nothing fetched from elsewhere.
    assert "<b>siamese</b>" not in text and "&lt;b&gt;siamese&lt;/b&gt;" in text
    assert "Evaluation &lt;test&gt;" in text
    assert "http://" not in text and "https://" not in text
    for reference in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", text):
        assert reference.startswith("data:")
    assert "<link" not in text and "<script" not in text
    # Written atomically: no temporary file left next to the report.
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_report_order_follows_the_reading_order(tmp_path):
    metrics = metrics_for_report()
    plots = {
        "confusion_matrix": plot_confusion_matrix(tmp_path / "cm.png", [[1, 2], [3, 4]]),
        "roc": plot_roc(tmp_path / "roc.png", [0, 1], [0, 1]),
    }
    text = write_report(tmp_path / "r.html", metrics, plots, "t").read_text()
    assert text.index("Summary") < text.index("ROC curve") < text.index("Confusion matrix") < text.index("All metrics")


def test_report_lists_skipped_metrics(tmp_path):
    metrics = metrics_for_report()
    metrics["skipped"] = [{"metric": "one_shot", "ways": 20, "reason": "20-way one-shot needs 20 identities"}]
    metrics["baseline"] = {"skipped": "no pretrained weights for backbone x"}
    text = write_report(tmp_path / "r.html", metrics, {}, "t").read_text()
    assert "20-way one-shot needs 20 identities" in text
    assert "baseline: no pretrained weights for backbone x" in text


def test_table_html(tmp_path):
    rows = [{"lr": 0.001, "roc_auc": 0.91}, {"lr": 0.01, "roc_auc": 0.87}]
    plot = plot_roc(tmp_path / "roc.png", [0, 1], [0, 1])
    out = write_table_html(tmp_path / "sweep.html", rows, ["lr", "roc_auc"], "LR sweep", plots={"ROC": plot})
    text = out.read_text()
    assert "0.9100" in text and "0.8700" in text and "LR sweep" in text
    assert "data:image/png;base64," in text and "http" not in text


def _banner(tmp_path, protocol: dict) -> str:
    metrics = metrics_for_report()
    metrics["protocol"] = protocol
    text = write_report(tmp_path / "r.html", metrics, {}, "t").read_text()
    return re.search(r'<p class="protocol">(.*?)</p>', text).group(1)


@pytest.mark.parametrize(
    "setting",
    ["includes the training images", "mixed (train identities included)"],  # the second: metrics.json of older runs
)
def test_report_banner_says_when_the_training_images_were_evaluated(tmp_path, setting):
    banner = _banner(tmp_path, {"setting": setting, "evaluated": "all images of the dataset"})
    assert "includes the training images" in banner
    assert "Closed-set" not in banner and "Open-set" not in banner and "different images" not in banner


def test_report_banner_says_when_the_split_is_unknown(tmp_path):
    banner = _banner(tmp_path, {"setting": "unknown", "evaluated": "all images of the dataset"})
    assert "Split unknown" in banner and "Open-set" not in banner and "Closed-set" not in banner


def test_report_banner_names_the_parts_of_a_split_that_share_identities(tmp_path):
    setting = "closed-set (the dataset's own test split; identities shared by val/test)"
    banner = _banner(tmp_path, {"setting": setting, "evaluated": "test split"})
    assert "val/test" in banner and "Open-set" not in banner and "appear in training" not in banner


def test_report_says_what_cannot_be_measured_and_how_far_to_trust_the_rest(tmp_path):
    metrics = metrics_for_report()  # 8 test identities x 3 images: 24 same pairs, 24 different
    text = write_report(tmp_path / "r.html", metrics, {}, "t").read_text()
    # FPR 1% and 0.1% of 24 different pairs is less than one false accept.
    assert "not measurable with 24 negative pairs" in text
    assert metrics["verification"]["tpr_at_fpr"] == {"0.01": None, "0.001": None}
    # Fewer than 10 identities: a warning line.
    assert "only 8 test identities" in text
    # Intervals: AUC and EER bootstrapped over identities, one-shot Wilson over episodes only.
    low, high = metrics["verification"]["roc_auc_ci95"]
    assert f"95% CI {low:.4f}\u2013{high:.4f}" in text
    low, high = metrics["verification"]["eer_ci95"]
    assert f"95% CI {low:.4f}\u2013{high:.4f}" in text
    one_shot = metrics["one_shot"]["5"]
    assert f"95% CI {one_shot['ci95_low']:.4f}\u2013{one_shot['ci95_high']:.4f}" in text
    assert "episode sampling only" in text and "Wilson" in text
    assert "bootstrap over test identities" in text


def test_the_skipped_row_of_all_metrics_reads_as_a_list_not_json(tmp_path):
    metrics = metrics_for_report()
    metrics["skipped"] = [
        {"metric": "one_shot", "ways": 20, "reason": "needs 20 identities, the test split has 8"},
        {"metric": "one_shot_across_groups", "ways": 5, "reason": "one group only"},
    ]
    text = write_report(tmp_path / "r.html", metrics, {}, "t").read_text()
    row = re.search(r"<td>skipped</td><td>(.*?)</td>", text).group(1)
    assert row == "one_shot 20-way: needs 20 identities, the test split has 8; one_shot_across_groups 5-way: one group only"
    assert "&quot;reason&quot;" not in text and '{"metric"' not in text


@pytest.mark.parametrize("trained, untrained, verdict", [
    (0.886, 0.897, "test ROC AUC 0.886, untrained 0.897: training did not help"),
    (0.990, 0.940, "test ROC AUC 0.990, untrained 0.940: +0.050"),
    (0.9402, 0.9400, "test ROC AUC 0.940, untrained 0.940: training did not help"),  # no gain that shows
    (0.900, None, "test ROC AUC 0.900 (untrained backbone not measured)"),
])
def test_training_verdict_says_whether_training_beat_the_untrained_backbone(trained, untrained, verdict):
    from siamkit.evaluation.verdict import training_verdict

    metrics = {"verification": {"roc_auc": trained}}
    if untrained is not None:
        metrics["baseline"] = {"verification": {"roc_auc": untrained}}
    assert training_verdict(metrics) == verdict


@pytest.mark.parametrize("baseline_auc, banner", [(0.999, True), (0.0, False)])
def test_report_says_at_the_top_when_training_did_not_help(tmp_path, baseline_auc, banner):
    metrics = metrics_for_report()
    metrics["baseline"]["verification"]["roc_auc"] = baseline_auc
    text = write_report(tmp_path / "report.html", metrics, {}, title="t").read_text()
    if banner:
        assert "Training did not help" in text and text.index("Training did not help") < text.index("Summary")
    else:
        assert "Training did not help" not in text
