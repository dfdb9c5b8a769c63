"""The loss and miner registries, and the two factories the training step calls.

A loss builder is called as ``builder(margin=..., embedding_dim=..., num_classes=...)`` and
returns a module with pytorch-metric-learning's call ``loss(embeddings, labels, indices_tuple)``
(or ``None`` where the training step computes the loss itself, as for bce). Its metadata tells
the rest of siamkit how to feed it, so no other module switches on loss names:

* ``default_margin``  the margin used when the config gives none
* ``uses_margin``     whether the margin changes training (a sweep over it is refused otherwise)
* ``class_level``     learns from class labels with parameters of its own (ArcFace): called as
                      ``loss(embeddings, labels)``, no tuples, no miner, no fixed pairs
* ``pair_head``       scored by the network's pair head (bce); the network is built with one
* ``tuples``          "pairs" or "triplets": what mined tuples are converted to, and which
                      fixed tuples ``--sampling fixed`` draws
* ``episodic``        reads each class's first ``episode_shots`` images in a batch as its
                      support and the rest as queries (the prototypical loss)

A miner builder is called as ``builder(margin=...)`` and returns a pytorch-metric-learning
miner, or ``None`` for "every valid tuple in the batch".

Builders import torch and pytorch-metric-learning inside their bodies: config validation and
the CLI's help read these registries without waiting for torch to load.
"""

from __future__ import annotations

from siamkit.registry import Registry

LOSSES = Registry(
    "loss",
    defaults={"default_margin": 0.0, "uses_margin": False, "class_level": False, "pair_head": False, "tuples": "pairs",
              "episodic": False},
)
MINERS = Registry("miner", defaults={"uses_margin": False})


def build_loss(name: str, margin: float, embedding_dim: int, num_classes: int, **options):
    """The loss module for ``name``; ``None`` for bce, which the training step computes itself.

    ``options`` (such as ``episode_shots`` for the episodic losses) reach only the builders that
    name them as parameters, so a builder that forwards ``**kwargs`` elsewhere never sees them.
    """
    import inspect

    builder = LOSSES.get(name, option="--loss")
    parameters = inspect.signature(builder).parameters
    named = {key for key, p in parameters.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
    options = {key: value for key, value in options.items() if key in named}
    return builder(margin=margin, embedding_dim=embedding_dim, num_classes=num_classes, **options)


def build_miner(name: str, margin: float):
    """``all`` means no miner: every valid pair/triplet in the batch is used."""
    return MINERS.get(name, option="--miner")(margin=margin)
