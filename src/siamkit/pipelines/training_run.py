"""``siamkit train``: dataset -> identity-disjoint split -> Lightning fit -> model folder.

The run folder holds everything needed to trust and reproduce the result:
``split.json`` (which identities were seen), ``config.yaml`` (every option), ``history.csv``,
``checkpoints/`` (best and last, for ``--resume``), ``model/`` and the evaluation report.
Validation identities decide early stopping and the decision threshold; test identities are
touched only once, at the end, by the evaluation.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import yaml

from siamkit.data.dataset import ImageDataset, scan_dataset
from siamkit.data.preprocessing import Preprocessing
from siamkit.data.splits import Split, make_split
from siamkit.errors import SiamkitError
from siamkit.io.atomic import write_text_atomic
from siamkit.io.terminal import progress_mode
from siamkit.models.backbone import backbone_data_config, check_backbone_name
from siamkit.models.model_folder import ModelConfig, save_model_folder
from siamkit.models.network import SiameseNetwork
from siamkit.pipelines.lightning_fit import _label_ids, _needs_pair_head, _validation_pairs, fit
from siamkit.pipelines.postprocess_fit import (
    attach_postprocess, calibration_embedder, choose_embedding, describe_embedding, fitted_head, network_layout,
)
from siamkit.pipelines.run_summary import log_plan
from siamkit.sampling import online_batch_shape  # noqa: F401  (moved to siamkit.sampling; old import path)
from siamkit.training.config import TrainConfig
from siamkit.training.loggers import check_logger_installed

log = logging.getLogger("siamkit")


@dataclass
class TrainResult:
    run_folder: Path
    model_folder: Path
    best_val_roc_auc: float
    threshold: float
    epochs: int
    seconds: float
    metrics_path: Path | None = None
    report_path: Path | None = None
    primary: bool = True  # False in the other processes of a torchrun job: they write nothing


def is_primary_process() -> bool:
    """Rank 0 (or a single process): the only one that writes files under ``torchrun``."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def resolve_device(choice: str) -> str:
    if choice == "cuda" and not torch.cuda.is_available():
        raise SiamkitError("--device cuda: no CUDA device is available; use --device cpu or auto")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def _check_split_images(split: Split, dataset: ImageDataset, source: str | Path) -> None:
    known = {r.path for r in dataset.records}
    missing = [p for name in ("train", "val", "test") for p in split.paths(name) if p not in known]
    if missing:
        raise SiamkitError(f"{source}: {len(missing)} image(s) of the saved split are gone, e.g. {missing[0]}")


def config_split(dataset: ImageDataset, config: TrainConfig) -> Split:
    """The split ``config`` describes (rule, fractions, seed, fold): the same every time it is made."""
    rule = "image" if config.closed_set else config.split_by
    return make_split(dataset, rule, config.split, config.seed, config.fold)


def _load_or_make_split(dataset: ImageDataset, run: Path, config: TrainConfig, resume: bool, given: Split | None = None) -> Split:
    split_path = run / "split.json"
    if resume and split_path.is_file():
        split = Split.load(split_path, root=dataset.root)  # relative paths: a moved dataset still resumes
        _check_split_images(split, dataset, split_path)
        log.info("resume: reusing the split in %s", split_path)
        return split
    if given is not None:
        # A split chosen by the caller (a sweep shares one across its runs); saved so the run
        # folder still says which identities it saw.
        _check_split_images(given, dataset, f"{split_path} (the given split)")
        given.save(split_path, dataset.root)
        log.info("using the given %s split -> %s", given.protocol, split_path)
        return given
    split = config_split(dataset, config)  # seeded: same in every DDP process
    if is_primary_process():
        split.save(split_path, dataset.root)
    log.info("split written to %s", split_path)  # its sizes are in the plan logged next
    return split


def check_run_folder(run: Path, resume: bool) -> Path:
    """The run folder's last checkpoint, after refusing a resume without one or a new run over one."""
    last_checkpoint = Path(run) / "checkpoints" / "last.ckpt"
    if resume and not last_checkpoint.is_file():
        raise SiamkitError(f"--resume: no checkpoint at {last_checkpoint}; start without --resume")
    if not resume and last_checkpoint.is_file():
        raise SiamkitError(f"{run}: already holds a training run; use --resume to continue it or another --out")
    return last_checkpoint


def train(
    data: str | os.PathLike, out: str | os.PathLike, config: TrainConfig, resume: bool = False, split: Split | None = None
) -> TrainResult:
    """Train on ``data`` into the run folder ``out``. ``split``, if given, replaces the one made
    from ``config.split``/``config.seed`` (so several runs can share one); a resumed run keeps its own."""
    import time

    import lightning as L

    from siamkit.training.module import validation_roc_auc

    started = time.perf_counter()
    run = Path(out)
    last_checkpoint = check_run_folder(run, resume)
    device = resolve_device(config.device)
    check_backbone_name(config.backbone, config.image_size)  # before minutes of scanning a large dataset
    check_logger_installed(config.logger)
    L.seed_everything(config.seed, workers=True, verbose=False)

    dataset = scan_dataset(data)
    created = not run.exists()
    run.mkdir(parents=True, exist_ok=True)
    try:
        split = _load_or_make_split(dataset, run, config, resume, split)
    except BaseException:
        if created and not any(run.iterdir()):  # a failed start leaves no empty run folder behind
            run.rmdir()
        raise
    log_plan(config, split)
    if is_primary_process():
        write_text_atomic(run / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    train_set, val_set = split.subset(dataset, "train"), split.subset(dataset, "val")

    network = SiameseNetwork.create(
        config.backbone, config.pretrained, config.embedding_dim, config.hidden_dim,
        pair_head=_needs_pair_head(config), trainable_stages=config.trainable_stages,
        freeze_bn_stats=config.freeze_bn_stats, **network_layout(config),
    )
    preprocessing = Preprocessing.from_timm_config(backbone_data_config(network.backbone), config.image_size)
    if fitted_head(config) == "none":  # nothing to train: the features (and the map fitted below) are the model
        epochs, best_score = 0, float("nan")
    else:
        fitted = fit(network, preprocessing, train_set, val_set, config, run, device, resume, last_checkpoint)
        if fitted is None:  # another process of a torchrun job: it writes nothing
            return TrainResult(run, run / "model", float("nan"), float("nan"), 0, time.perf_counter() - started, primary=False)
        epochs, best_score = fitted
    network = network.to(memory_format=torch.contiguous_format).cpu().eval()
    attach_postprocess(network, preprocessing, train_set, config)

    val_pairs = _validation_pairs(_label_ids(val_set)[1], config.seed)

    def score(candidate):  # the threshold and validation ROC AUC, through the embedder that serves
        threshold, embeddings = choose_validation_threshold(candidate, preprocessing, val_set, config)
        return threshold, float(validation_roc_auc(embeddings, val_pairs))

    threshold, val_auc = score(network)
    if fitted_head(config) == "none":  # nothing trained: the validation score is measured here
        best_score = val_auc
    kept = choose_embedding((network, config, threshold, val_auc), config, preprocessing, train_set, score)
    if kept[1] is not config:  # the closed-form embedding: it trained nothing (the trained head's epochs are in history.csv)
        network, chosen, threshold, best_score = kept
        epochs = 0
    else:
        chosen = replace(config, head=fitted_head(config))  # what was built: "auto" trained the MLP head
    model_config = ModelConfig(
        backbone=config.backbone,
        preprocessing=preprocessing,
        embedding_dim=network.embedding_dim,
        hidden_dim=config.hidden_dim,
        head=chosen.head,
        head_dim=network.head_dim,
        feature_block=chosen.feature_block,
        feature_grid=chosen.feature_grid,
        flip_average=chosen.flip_average,
        zoom_average=chosen.zoom_average,
        postprocess=chosen.postprocess,
        loss=config.loss,
        margin=config.effective_margin,
        pair_head=_needs_pair_head(config),
        threshold=threshold,
        threshold_rule=config.threshold_rule,
        training={
            "dataset": str(Path(data).resolve()),
            "protocol": split.protocol,
            "identity_counts": split.identity_counts,
            "best_val_roc_auc": best_score,
            "epochs": epochs,
            "embedding": describe_embedding(chosen),
            "sampling": config.sampling,
            "miner": config.miner,
            "seed": config.seed,
            "pretrained": str(config.pretrained),
        },
    )
    model_folder = save_model_folder(run / "model", model_config, network.state_dict())
    result = TrainResult(run, model_folder, best_score, threshold, epochs, time.perf_counter() - started)
    log.info("model folder: %s (best validation ROC AUC %.4f, threshold %.4f)", model_folder, best_score, threshold)
    return result


def choose_validation_threshold(network, preprocessing: Preprocessing, val_set: ImageDataset, config: TrainConfig):
    """The distance threshold that the model folder carries, chosen on validation pairs only
    (and the validation embeddings it was chosen on)."""
    from siamkit.evaluation import threshold_from_validation

    embedder = calibration_embedder(network, preprocessing, config.batch_size)
    paths = [r.path for r in val_set.records]
    embeddings = embedder.embed(paths, progress=progress_mode(), description="validation embeddings")
    threshold = float(threshold_from_validation(embeddings, np.asarray(val_set.labels), rule=config.threshold_rule, seed=config.seed))
    return threshold, embeddings
