"""The Lightning part of ``siamkit train``: the data loaders, the Trainer and its callbacks, the fit.

``siamkit.pipelines.training_run`` calls :func:`fit` between the split and the model folder;
everything that only Lightning needs lives here.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from siamkit.data.dataset import ImageDataset
from siamkit.data.preprocessing import Augmentation, Preprocessing
from siamkit.training.config import TrainConfig

log = logging.getLogger("siamkit")


def _workers(config: TrainConfig) -> int:
    if config.workers >= 0:
        return config.workers
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _label_ids(dataset: ImageDataset) -> tuple[list[str], list[int]]:
    names = sorted({r.label for r in dataset.records})
    index = {name: i for i, name in enumerate(names)}
    return [r.path for r in dataset.records], [index[r.label] for r in dataset.records]


def _train_loader(train: ImageDataset, preprocessing: Preprocessing, config: TrainConfig):
    """The training DataLoader from the sampler registered for ``config`` (see siamkit.sampling)."""
    from siamkit.sampling import SAMPLERS
    from siamkit.training.datasets import ROTATIONS, ImageListDataset, rotated_classes

    augmentation = Augmentation(
        enabled=config.augment,
        crop_scale=config.crop_scale,
        horizontal_flip=config.horizontal_flip,
        color_jitter=config.color_jitter,
        rotation=config.rotation,
        shear=config.shear,
        scale_jitter=config.scale_jitter,
        translate=config.translate,
    )
    paths, labels = _label_ids(train)
    groups, turns = [record.group for record in train.records], None
    if config.rotate_classes:
        paths, labels, groups, turns = rotated_classes(paths, labels, groups)
        log.info("rotate_classes: %d training identities in %d rotations each", len(set(labels)) // ROTATIONS, ROTATIONS)
    workers = _workers(config)
    # Random batches: in time every worker of every local process (torchrun) holds every image.
    copies = max(1, workers) * max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    cache = not augmentation.random and _fits_in_memory(len(paths), preprocessing, copies, "training")
    images = ImageListDataset(paths, labels, preprocessing.train_transform(augmentation), groups, turns, cache=cache)
    common = dict(num_workers=workers, persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())
    build = SAMPLERS.get(config.sampler_name, option="--sampling")
    return build(images, train, config, common)


CACHE_BYTES = 1 << 30  # transformed images kept in memory by one loader, all its copies together


def _fits_in_memory(count: int, preprocessing: Preprocessing, copies: int, role: str) -> bool:
    """Whether ``copies`` copies of ``count`` transformed images fit :data:`CACHE_BYTES`."""
    size = count * preprocessing.in_chans * preprocessing.image_size**2 * 4 * max(1, copies)
    if size > CACHE_BYTES:
        return False
    log.info("%s images decoded once and kept in memory (%d images, %.0f MB)", role, count, size / 2**20)
    return True


def _needs_pair_head(config: TrainConfig) -> bool:
    from siamkit.losses import LOSSES

    return bool(LOSSES.metadata(config.loss)["pair_head"])


def _val_loader(val: ImageDataset, preprocessing: Preprocessing, config: TrainConfig):
    from torch.utils.data import DataLoader

    from siamkit.training.datasets import DecodedTensor, ImageListDataset, interleave_identities

    paths, labels = _label_ids(val)
    order = interleave_identities(labels, config.m_per_class)
    workers = _workers(config)
    # A fixed order: each worker gets the same batches every epoch, so the copies add up to one.
    cache = _fits_in_memory(len(paths), preprocessing, 1, "validation")
    dataset = ImageListDataset([paths[i] for i in order], [labels[i] for i in order], DecodedTensor(preprocessing), cache=cache)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=False, num_workers=workers, persistent_workers=workers > 0)
    return loader, dataset.labels


ALL_PAIRS_UP_TO = 50_000  # validation sets this small (up to 316 images) are scored on every pair (AT&T: 60 images, 1,770 pairs)


def _validation_pairs(labels: list[int], seed: int) -> np.ndarray:
    """Every pair of validation images where there are at most ``ALL_PAIRS_UP_TO``; otherwise up
    to 5,000 same-identity pairs and as many different-identity ones, seeded."""
    from siamkit.evaluation.pairs import make_verification_pairs

    labels = np.asarray(labels)
    if len(labels) * (len(labels) - 1) // 2 <= ALL_PAIRS_UP_TO:
        first, second = np.triu_indices(len(labels), k=1)
        same = labels[first] == labels[second]
        if same.any() and not same.all():
            return np.stack([first, second, same.astype(np.int64)], axis=1).astype(np.int64)
    first, second, same = make_verification_pairs(labels, max_pairs=5000, seed=seed)
    return np.stack([first, second, same.astype(np.int64)], axis=1)


def distributed_layout(device: str) -> tuple:
    """Devices, nodes and strategy: under ``torchrun`` these come from its environment.

    The same ``siamkit train`` command then runs as one DDP process per GPU (or CPU process with
    the gloo backend), on one machine or several.
    """
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "0") or 0)
    world = int(os.environ.get("WORLD_SIZE", "0") or 0)
    if local and world > 1:
        return local, max(1, world // local), "ddp"
    return ("auto" if device == "cuda" else 1), 1, "auto"


def _trainer(config: TrainConfig, run: Path, device: str, history_path: Path):
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from siamkit.training.checkpoint_io import AtomicCheckpointIO
    from siamkit.training.history import HistoryWriter
    from siamkit.training.loggers import make_logger
    from siamkit.training.progress import EpochBar, progress_callbacks

    # Lightning sets its own loggers to INFO on import; its banners say nothing a user acts on.
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)

    checkpoint = ModelCheckpoint(
        dirpath=run / "checkpoints", filename="best", monitor="val_roc_auc", mode="max", save_last=True, save_top_k=1,
        enable_version_counter=False,
    )
    callbacks = [
        checkpoint,
        EarlyStopping(monitor="val_roc_auc", mode="max", patience=config.patience, check_finite=False),
        HistoryWriter(history_path),
        *progress_callbacks(),
    ]
    precision = "32-true"
    if device == "cuda":
        precision = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    devices, num_nodes, strategy = distributed_layout(device)
    trainer = L.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        precision=precision,
        max_epochs=config.max_epochs,
        max_time={"minutes": config.max_time} if config.max_time else None,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        logger=make_logger(config.logger, run),
        default_root_dir=str(run),
        num_sanity_val_steps=0,
        log_every_n_steps=5,
        enable_model_summary=False,
        enable_progress_bar=any(isinstance(callback, EpochBar) for callback in callbacks),
        deterministic=False,
    )
    return trainer, checkpoint


def fit(network, preprocessing, train_set, val_set, config, run, device, resume, last_checkpoint):
    """Lightning fit; the best checkpoint's weights end up in ``network``.

    Returns (epochs, best validation ROC AUC), or None in a torchrun process other than rank 0.
    """
    from siamkit.training.module import SiameseModule

    if config.channels_last:
        network = network.to(memory_format=torch.channels_last)
    train_loader = _train_loader(train_set, preprocessing, config)
    from siamkit.training.datasets import ROTATIONS

    num_classes = len(train_set.identities()) * (ROTATIONS if config.rotate_classes else 1)
    val_loader, val_labels = _val_loader(val_set, preprocessing, config)
    module = SiameseModule(config, network, num_classes, _validation_pairs(val_labels, config.seed))
    trainer, checkpoint = _trainer(config, run, device, run / "history.csv")
    if resume:
        log.info("resume: continuing from %s", last_checkpoint)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*number of training batches.*")
        trainer.fit(module, train_loader, val_loader, ckpt_path=str(last_checkpoint) if resume else None)
    leave_process_group()  # training is the only collective work: rank 0 goes on alone
    if not trainer.is_global_zero:
        return None
    if config.keep == "last":  # the network holds the last epoch's weights; its score is that epoch's
        last_score = trainer.callback_metrics.get("val_roc_auc")
        return trainer.current_epoch, float(last_score) if last_score is not None else float("nan")
    best_path = checkpoint.best_model_path or str(last_checkpoint)
    best_score = float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else float("nan")
    state = torch.load(best_path, map_location="cpu", weights_only=True)["state_dict"]
    network.load_state_dict({k.removeprefix("network."): v for k, v in state.items() if k.startswith("network.")})
    return trainer.current_epoch, best_score


def leave_process_group() -> None:
    """End this process's part in a torchrun job's process group once training is over.

    Left to interpreter exit, gloo's threads were sometimes still running while a process that
    had finished early (a rank other than 0, while rank 0 writes the model folder) tore down,
    and it died with "terminate called without an active exception" (SIGABRT).
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():  # trainer.fit ended in step on every rank
        dist.destroy_process_group()
