"""Losses and miners, by name: ``LOSSES`` and ``MINERS`` (see :mod:`siamkit.losses.registry`).

One file per family registers its entries; importing this package registers them all. User code
adds its own the same way, before training::

    from siamkit.losses import LOSSES

    @LOSSES.register("circle", default_margin=0.25, uses_margin=True)
    def circle(margin, **_):
        from pytorch_metric_learning import losses
        return losses.CircleLoss(m=margin)

The torch-bound helpers (:func:`siamkit.losses.tuples.batch_indices`,
:func:`siamkit.losses.pair_head_loss.bce_pair_loss`) stay in their modules so that importing
this package stays free of torch.
"""

# Importing the families registers their entries; this order is the order of help and errors.
from siamkit.losses import tuple_losses, class_losses, episodic, pair_head_loss, miners  # noqa: F401, I001
from siamkit.losses.registry import LOSSES, MINERS, build_loss, build_miner

__all__ = ["LOSSES", "MINERS", "build_loss", "build_miner"]
