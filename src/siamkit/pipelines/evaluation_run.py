"""``siamkit evaluate``: a model folder + a dataset -> metrics.json, plots and report.html.

Which images count as unseen is decided in :mod:`~siamkit.pipelines.evaluation_split`: with a
training run's ``split.json`` and ``split="test"``, only the run's test identities are measured,
and a dataset the run's split says nothing about is reported as "split unknown", never as
open-set. The decision threshold is the one stored in the model
folder (chosen on validation identities during training): test labels never move it.
The untrained backbone (ImageNet features, no head) is measured the same way, side by side.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamkit.data.dataset import ImageDataset, scan_dataset
from siamkit.errors import SiamkitError
from siamkit.evaluation import plots as plotting
from siamkit.evaluation.report import write_report
from siamkit.evaluation.retrieval import nearest_neighbours
from siamkit.evaluation.summary import evaluate_embeddings, threshold_from_validation, verification_pairs
from siamkit.evaluation.verification import describe_tpr_at_fpr, hardest_false_matches
from siamkit.inference.siamese_model import SiameseModel
from siamkit.io.atomic import write_text_atomic
from siamkit.io.terminal import progress_mode
from siamkit.pipelines.evaluation_split import INCLUDES_TRAINING, _check_groups, _check_ways, _select, _usable, find_split
from siamkit.pipelines.evaluation_split import SplitSearch  # noqa: F401  (moved; old import path)
from siamkit.training.config import parse_shots

log = logging.getLogger("siamkit")


@dataclass
class EvaluationResult:
    metrics: dict
    metrics_path: Path
    report_path: Path


def parse_ways(ways: str | list | tuple) -> tuple[int, ...]:
    try:
        values = tuple(int(w) for w in (ways.split(",") if isinstance(ways, str) else ways))
    except ValueError:
        raise SiamkitError(f"--ways '{ways}': expected whole numbers like 5,20") from None
    if not values or any(v < 2 for v in values):
        raise SiamkitError(f"--ways '{ways}': each N-way needs N >= 2")
    return values


def _identity_labels(dataset: ImageDataset) -> np.ndarray:
    return np.asarray([record.label for record in dataset.records])


def _baseline_embedder(model: SiameseModel, seed: int = 0):
    """ImageNet features of the untrained backbone, no head: what training has to beat."""
    import torch

    from siamkit.inference.embedder import TorchEmbedder
    from siamkit.models.backbone import create_backbone

    pretrained = model.config.training.get("pretrained", "auto")
    torch.manual_seed(seed)  # with pretrained "none" the baseline is a seeded random backbone
    backbone = create_backbone(model.config.backbone, pretrained)
    # The embedder the model itself is calibrated and served with, L2-normalising the bare
    # backbone's features as the trained head does.
    return TorchEmbedder(backbone, model.config.preprocessing, "cpu", batch_size=64, normalise=True)


def _plots(out: Path, metrics: dict, test: ImageDataset, embeddings: np.ndarray, labels: np.ndarray, history: Path | None, max_pairs, seed: int) -> dict:
    figures = out / "plots"
    figures.mkdir(parents=True, exist_ok=True)
    verification = metrics["verification"]
    made: dict[str, Path] = {}

    def attempt(name, draw):
        try:
            made[name] = draw(figures / f"{name}.png")
        except SiamkitError as exc:
            log.info("plot %s left out: %s", name, exc)

    if history is not None and Path(history).is_file():
        attempt("training_curves", lambda p: plotting.plot_training_curves(p, history))
    idx_a, idx_b, same, distances = verification_pairs(embeddings, labels, max_pairs=max_pairs, seed=seed)
    threshold = verification["threshold"]
    (tn, fp), (fn, tp) = verification["confusion_matrix"]
    operating = (fp / max(1, fp + tn), tp / max(1, tp + fn))
    attempt("roc", lambda p: plotting.plot_roc(p, verification["roc"]["fpr"], verification["roc"]["tpr"], verification["roc_auc"], operating))
    attempt("distance_histograms", lambda p: plotting.plot_distance_histograms(p, distances, same, threshold))
    attempt("confusion_matrix", lambda p: plotting.plot_confusion_matrix(p, verification["confusion_matrix"]))
    paths = [record.path for record in test.records]
    rng = np.random.default_rng(seed)
    queries = rng.choice(len(paths), size=min(6, len(paths)), replace=False)
    neighbours, neighbour_distances = nearest_neighbours(embeddings, 5, seed=seed)
    attempt(
        "retrieval_grid",
        lambda p: plotting.plot_retrieval_grid(
            p,
            [paths[q] for q in queries],
            [[paths[i] for i in neighbours[q]] for q in queries],
            [[labels[i] == labels[q] for i in neighbours[q]] for q in queries],
            [list(neighbour_distances[q]) for q in queries],
        ),
    )
    hardest = hardest_false_matches(distances, same, idx_a, idx_b, count=8)
    attempt("hardest_false_matches", lambda p: plotting.plot_hardest_false_matches(p, [(paths[h["a"]], paths[h["b"]], h["distance"]) for h in hardest]))
    attempt("embedding_projection", lambda p: plotting.plot_embedding_projection(p, embeddings, labels, seed=seed))
    return made


def evaluate_model_folder(
    model_folder: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike,
    split: str = "test",
    ways="5,20",
    episodes: int = 400,
    within_group: bool = False,
    seed: int = 0,
    max_pairs: int | None = None,
    history: str | os.PathLike | None = None,
    baseline: bool = True,
    strict_ways: bool = True,
    backend: str = "auto",
    shots="1",
    plots: bool = True,
) -> EvaluationResult:
    """Evaluate ``model_folder`` on ``data``; ``strict_ways`` makes an unsupportable N-way an error
    (what a user who typed ``--ways`` wants) instead of a skipped row (what training's report wants).
    ``backend`` is ``SiameseModel.load``'s: the default measures what a CPU serves (onnxruntime).
    ``plots=False`` writes the numbers and the report without figures (a few seconds less per
    evaluation, for scripts and CI jobs that only read metrics.json)."""
    model_folder, out = Path(model_folder), Path(out)
    ways = parse_ways(ways)
    shots = parse_shots(shots)
    if episodes <= 0:
        raise SiamkitError(f"--episodes must be positive, got {episodes}")
    model = SiameseModel.load(model_folder, backend=backend)
    dataset = scan_dataset(data)
    search = find_split(dataset, data, model_folder)
    test, val, protocol = _select(dataset, search.split, split, search)
    _usable(test, f"{data} ({protocol['evaluated']})")
    if strict_ways:
        _check_ways(test, ways)
    _check_groups(test, within_group)
    if protocol["setting"] == INCLUDES_TRAINING:
        log.warning("the evaluation %s: these numbers do not measure unseen identities", INCLUDES_TRAINING)
    elif protocol["setting"] == "unknown":
        log.warning("split unknown (%s): these numbers are open-set only if none of these images were trained on", search.unknown)
    labels = _identity_labels(test)
    groups = np.asarray([record.group for record in test.records])
    paths = [record.path for record in test.records]
    log.info("evaluating %s on %d images of %d identities (%s)", model_folder, len(paths), len(test.identities()), protocol["evaluated"])

    started = time.perf_counter()
    embeddings = model.embed(paths, progress=progress_mode())
    embed_seconds = time.perf_counter() - started
    common = dict(test_groups=groups, ways=ways, episodes=episodes, within_group=within_group, max_pairs=max_pairs, seed=seed, shots=shots)
    metrics = evaluate_embeddings(embeddings, labels, model.threshold, model.config.threshold_rule, **common)
    metrics["protocol"] = protocol
    metrics["model"] = {
        "folder": str(model_folder),
        "backbone": model.config.backbone,
        "loss": model.config.loss,
        "embedding_size": model.config.embedding_dim,
        "image_size": model.config.preprocessing.image_size,
        "threshold_source": "validation identities of the training run",
    }
    if baseline:
        metrics["baseline"] = _baseline_metrics(model, embeddings_of=paths, labels=labels, val=val, common=common)
    metrics["timing"] = {
        "seconds": round(time.perf_counter() - started, 3),
        "embedding_seconds": round(embed_seconds, 3),
        "images_per_second": round(len(paths) / max(embed_seconds, 1e-9), 2),
    }

    out.mkdir(parents=True, exist_ok=True)
    if plots:
        figures = _plots(out, metrics, test, embeddings, labels, Path(history) if history else None, max_pairs, seed)
    else:
        figures = {}
        shutil.rmtree(out / "plots", ignore_errors=True)  # an earlier evaluation's figures would not match these numbers
    saved = {**metrics, "verification": {k: v for k, v in metrics["verification"].items() if k != "roc"}}
    if isinstance(saved.get("baseline"), dict) and "verification" in saved["baseline"]:
        saved["baseline"] = {**saved["baseline"], "verification": {k: v for k, v in saved["baseline"]["verification"].items() if k != "roc"}}
    metrics_path = out / "metrics.json"
    write_text_atomic(metrics_path, json.dumps(saved, indent=2))
    report_path = write_report(out / "report.html", saved, {k: str(v) for k, v in figures.items()}, title=f"siamkit evaluation: {model_folder}",
                               plots_off=not plots)
    verification = metrics["verification"]
    log.info(
        "test ROC AUC %.4f, EER %.4f, %s, accuracy %.4f at threshold %.4f; report %s",
        verification["roc_auc"], verification["eer"], describe_tpr_at_fpr(verification), verification["accuracy"],
        verification["threshold"], report_path,
    )
    return EvaluationResult(saved, metrics_path, report_path)


def _baseline_metrics(model: SiameseModel, embeddings_of: list[str], labels: np.ndarray, val: ImageDataset | None, common: dict) -> dict:
    try:
        embedder = _baseline_embedder(model, common["seed"])
    except SiamkitError as exc:
        log.warning("baseline left out: %s", exc)
        return {"skipped": str(exc)}
    baseline_embeddings = embedder.embed(embeddings_of, progress=progress_mode(), description="baseline embeddings")
    threshold, rule = None, model.config.threshold_rule
    if val is not None and len(val.identities()) >= 2:
        val_paths = [r.path for r in val.records]
        threshold = threshold_from_validation(embedder.embed(val_paths), _identity_labels(val), rule=rule, seed=common["seed"])
    if threshold is None:
        # No validation identities to choose it on: threshold-free numbers only (AUC, EER, retrieval).
        threshold, rule = float("inf"), "none (no validation split)"
        result = evaluate_embeddings(baseline_embeddings, labels, 2.0, rule, **common)
        for key in ("accuracy", "precision", "recall", "f1", "confusion_matrix", "classification_report", "threshold"):
            result["verification"][key] = None
        return result
    return evaluate_embeddings(baseline_embeddings, labels, threshold, rule, **common)
