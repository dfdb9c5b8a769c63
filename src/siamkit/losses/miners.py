"""Miners: which pairs or triplets of an online batch the loss sees."""

from __future__ import annotations

from siamkit.losses.registry import MINERS


@MINERS.register("batch-hard")
def batch_hard(**_):
    from pytorch_metric_learning import miners

    return miners.BatchHardMiner()


@MINERS.register("semi-hard", uses_margin=True)
def semi_hard(margin: float, **_):
    from pytorch_metric_learning import miners

    # A loss without a margin (multi-similarity, bce) still needs one to mine semi-hard triplets.
    return miners.TripletMarginMiner(margin=margin if margin > 0 else 0.2, type_of_triplets="semihard")


@MINERS.register("all")
def every_tuple(**_):
    """No miner: every valid pair/triplet in the batch is used."""
    return None
