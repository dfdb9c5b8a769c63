"""The Lightning module: one training step for every loss and sampling mode, and validation
ROC AUC on identities the model never trains on (the early-stopping signal)."""

from __future__ import annotations

import logging
import math

import lightning as L
import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from siamkit.distances import unit_distance
from siamkit.models.network import SiameseNetwork
from siamkit.models.precision import float32_forward
from siamkit.training.config import TrainConfig
from siamkit.sampling import SAMPLERS
from siamkit.training.losses import LOSSES, batch_indices, bce_pair_loss, build_loss, build_miner, miner_is_used

log = logging.getLogger("siamkit")


class SiameseModule(L.LightningModule):
    def __init__(self, config: TrainConfig, network: SiameseNetwork, num_classes: int, val_pairs: np.ndarray | None):
        super().__init__()
        self.config = config
        self.network = network
        # What the loss and the sampler need is read from their registry entries, not their names.
        self.loss_spec = dict(LOSSES.metadata(config.loss))
        self.fixed_tuples = SAMPLERS.metadata(config.sampler_name)["batches"] != "labelled"
        self.loss_fn = build_loss(
            config.loss, config.effective_margin, config.embedding_dim, num_classes, episode_shots=config.episode_shots
        )
        self.miner = build_miner(config.miner, config.effective_margin) if miner_is_used(config) else None
        self.val_pairs = val_pairs
        self._val_embeddings: list[torch.Tensor] = []
        self._val_image_ids: list[torch.Tensor] = []  # to restore the order under DDP
        self._val_losses: list[float] = []
        self._train_losses: list[float] = []
        self.epoch_train_loss = float("nan")

    # -- embedding ---------------------------------------------------------------------------
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        if self.config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.network(images)

    def _gather(self, embeddings, labels, image_ids):
        """Mining sees every process's embeddings under DDP (gradients flow back to each rank)."""
        if self.trainer is None or self.trainer.world_size == 1:
            return embeddings, labels, image_ids
        embeddings = self.all_gather(embeddings, sync_grads=True).flatten(0, 1)
        labels = self.all_gather(labels).flatten(0, 1)
        image_ids = self.all_gather(image_ids).flatten(0, 1)
        return embeddings, labels, image_ids

    # -- losses ------------------------------------------------------------------------------
    def _labelled_batch_loss(self, embeddings, labels, image_ids, miner):
        if self.loss_spec["class_level"]:
            return self.loss_fn(embeddings, labels)
        indices = batch_indices(self.config.loss, miner, embeddings, labels, image_ids)
        if self.loss_spec["pair_head"]:
            return bce_pair_loss(self.network.pair_head, embeddings, indices)
        return self.loss_fn(embeddings, labels, indices)

    def _fixed_batch_loss(self, batch):
        """Fixed pairs: ((a, b), (label_a, label_b), (id_a, id_b)); triplets: three of each."""
        images, labels, image_ids = batch
        count = len(images)
        size = images[0].shape[0]
        embeddings = self.embed(torch.cat(images))
        labels, image_ids = torch.cat(labels), torch.cat(image_ids)
        rows = torch.arange(size, device=embeddings.device)
        if count == 3:
            indices = (rows, rows + size, rows + 2 * size)
            assert torch.all(image_ids[indices[0]] != image_ids[indices[1]])
            return self.loss_fn(embeddings, labels, indices)
        same = labels[:size] == labels[size:]
        indices = (rows[same], rows[same] + size, rows[~same], rows[~same] + size)
        if self.loss_spec["pair_head"]:
            return bce_pair_loss(self.network.pair_head, embeddings, indices)
        return self.loss_fn(embeddings, labels, indices)

    def on_train_batch_start(self, batch, batch_index):
        # Lightning restores module modes by setting ``.training`` flags directly after
        # validation, bypassing SiameseNetwork.train(): re-freeze the BatchNorm statistics here.
        self.network.keep_frozen_batchnorm_in_eval()

    def training_step(self, batch, batch_index):
        if self.fixed_tuples:
            loss = self._fixed_batch_loss(batch)
        else:
            images, labels, image_ids = batch
            embeddings, labels, image_ids = self._gather(self.embed(images), labels, image_ids)
            if batch_index == 0 and self.current_epoch == 0 and self.global_rank == 0:
                log.debug("mining over %d embeddings from %d process(es)", len(embeddings), self.trainer.world_size)
            loss = self._labelled_batch_loss(embeddings, labels, image_ids, self.miner)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(batch[0]))
        self._train_losses.append(float(loss.detach()))
        return loss

    # -- validation --------------------------------------------------------------------------
    def validation_step(self, batch, batch_index):
        images, labels, image_ids = batch
        # The embedders' own forward (float32, no autocast, no TF32): the score that picks the
        # epoch is computed as calibration and serving will compute distances.
        embeddings = float32_forward(self.network, images, images.device, channels_last=True)
        self._val_embeddings.append(embeddings.detach().float())
        self._val_image_ids.append(image_ids.detach())
        if not self.loss_spec["class_level"]:  # its class weights know no validation identity
            loss = self._labelled_batch_loss(embeddings, labels, image_ids, None)
            self._val_losses.append(float(loss))

    def on_validation_epoch_end(self):
        embeddings, image_ids = torch.cat(self._val_embeddings), torch.cat(self._val_image_ids)
        if self.trainer.world_size > 1:
            # Each process validated a strided share (padded with repeats): put rows back by index.
            embeddings = self.all_gather(embeddings).flatten(0, 1)
            image_ids = self.all_gather(image_ids).flatten(0, 1)
        ordered = torch.zeros(int(image_ids.max()) + 1, embeddings.shape[1], device=embeddings.device)
        ordered[image_ids] = embeddings
        self._val_embeddings.clear()
        self._val_image_ids.clear()
        auc = validation_roc_auc(ordered.cpu().numpy(), self.val_pairs)
        self.log("val_roc_auc", auc, prog_bar=True, sync_dist=False)
        # Validation runs after the epoch's last training batch, so this is the whole epoch's mean.
        self.epoch_train_loss = float(np.mean(self._train_losses)) if self._train_losses else float("nan")
        val_loss = float(np.mean(self._val_losses)) if self._val_losses else float("nan")
        self.log("val_loss", val_loss, prog_bar=True, sync_dist=True)
        self._val_losses.clear()

    def on_train_epoch_end(self):
        self._train_losses.clear()

    # -- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self):
        config = self.config
        backbone = [p for p in self.network.backbone.parameters() if p.requires_grad]
        head = list(self.network.head.parameters()) if self.network.head is not None else []
        if self.network.pair_head is not None:
            head += list(self.network.pair_head.parameters())
        if self.loss_fn is not None:
            head += [p for p in self.loss_fn.parameters() if p.requires_grad]
        groups = [{"params": head, "lr": config.lr}]
        if backbone:
            groups.append({"params": backbone, "lr": config.lr * config.backbone_lr_scale})
        optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        optimizer = optimizer_class(groups, lr=config.lr, eps=config.eps, weight_decay=config.weight_decay)
        if config.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.cosine_epochs))
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
        if config.schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.3, patience=2)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_roc_auc"}}
        return optimizer

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Runs before Lightning restores the optimizer and scheduler from this same dict.
        if self.config.schedule == "cosine":
            replan_cosine_schedule(checkpoint, self.config.cosine_epochs)


def replan_cosine_schedule(checkpoint: dict, max_epochs: int) -> None:
    """Stretch a resumed cosine schedule to ``max_epochs``, in place in the checkpoint.

    A finished run's cosine has reached its floor (lr 0): restored as saved, ``--resume
    --max-epochs`` with more epochs would run them without changing a weight. The rate is set to
    where a cosine over ``max_epochs`` is after the epochs already done, and decays from there.
    """
    states, optimizers = checkpoint.get("lr_schedulers") or [], checkpoint.get("optimizer_states") or []
    for state, optimizer in zip(states, optimizers):
        planned, done = state.get("T_max"), state.get("last_epoch", 0)
        if planned is None or planned == max_epochs or done >= max_epochs:
            continue
        floor = state.get("eta_min", 0.0)
        scale = (1 + math.cos(math.pi * done / max_epochs)) / 2
        rates = [floor + (base - floor) * scale for base in state["base_lrs"]]
        state["T_max"], state["_last_lr"] = max_epochs, rates
        for group, rate in zip(optimizer["param_groups"], rates):
            group["lr"] = rate
        log.info(
            "resume: re-planned the cosine learning-rate schedule from %d to %d epochs; "
            "%d done, learning rate now %.3g", planned, max_epochs, done, rates[0],
        )


def validation_roc_auc(embeddings: np.ndarray, pairs: np.ndarray | None) -> float:
    """ROC AUC of -distance on fixed validation pairs (rows of index_a, index_b, same)."""
    if pairs is None or len(pairs) == 0:
        return float("nan")
    # The network ends in L2 normalisation, so these are unit vectors: the distance calibration,
    # evaluation and serving use (siamkit.distances), on the in-loop (mixed-precision) embeddings.
    distances = unit_distance(embeddings[pairs[:, 0]], embeddings[pairs[:, 1]])
    same = pairs[:, 2].astype(bool)
    if same.all() or not same.any():
        return float("nan")
    return float(roc_auc_score(same, -distances))
