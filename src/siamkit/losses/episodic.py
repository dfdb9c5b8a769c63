"""Episodic losses: each batch is a few-shot task (N classes, K support and Q query images each).

``prototypical`` is Snell et al. (2017)'s prototypical-network loss: the support embeddings of each
class average into a prototype, and every query is classified among the batch's prototypes by a
softmax over negative squared distances. Training then practises what N-way K-shot evaluation
asks. It reads any labelled batch (the first ``shots`` images of each class in the batch are its
support, the rest its queries); the ``episodes`` sampler draws batches of exactly that shape.
"""

from __future__ import annotations

from siamkit.losses.registry import LOSSES


def prototypical_loss_module(shots: int = 1, scale: float = 10.0):
    import torch
    from torch import nn
    from torch.nn import functional as F

    class PrototypicalLoss(nn.Module):
        """Cross-entropy of each query over the batch's class prototypes.

        siamkit's embeddings are unit vectors, whose squared distances lie in [0, 4]: a learnt
        ``scale`` (Oreshkin et al.'s metric scaling, started at 10) sharpens the softmax.
        """

        def __init__(self):
            super().__init__()
            self.shots = int(shots)
            self.log_scale = nn.Parameter(torch.tensor(float(scale)).log())

        def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            classes, codes = torch.unique(labels, return_inverse=True)
            order = torch.argsort(codes, stable=True)  # batch order kept within each class
            ranks = torch.empty_like(codes)
            counts = torch.bincount(codes, minlength=len(classes))
            starts = torch.cumsum(counts, 0) - counts
            ranks[order] = torch.arange(len(codes), device=codes.device) - starts[codes[order]]
            support = ranks < self.shots
            query = ~support & (counts[codes] > self.shots)  # a class without queries only competes
            if not bool(query.any()):
                return embeddings.sum() * 0.0
            prototypes = torch.zeros(len(classes), embeddings.shape[1], device=embeddings.device, dtype=embeddings.dtype)
            prototypes.index_add_(0, codes[support], embeddings[support])
            prototypes = prototypes / torch.bincount(codes[support], minlength=len(classes)).clamp(min=1).unsqueeze(1)
            distances = torch.cdist(embeddings[query], prototypes).pow(2)
            return F.cross_entropy(-self.log_scale.exp() * distances, codes[query])

    return PrototypicalLoss()


# Called as loss(embeddings, labels) with a learnt parameter of its own, like the class-level
# losses (no miner, no fixed tuples); the "margin" is the starting scale of the logits.
@LOSSES.register("prototypical", default_margin=10.0, uses_margin=True, class_level=True, episodic=True)
def prototypical(margin: float, episode_shots: int = 1, **_):
    return prototypical_loss_module(shots=episode_shots, scale=margin)
