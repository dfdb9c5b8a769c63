"""The sampler registry: how the training images become training batches.

A sampler builder is called as ``builder(images, train, config, loader_options)`` with

* ``images``          the training images as a torch dataset of (image, label, index) items,
                      with ``.labels`` (one class id per image)
* ``train``           the training :class:`~siamkit.data.dataset.ImageDataset` (records with
                      their identity and group folders)
* ``config``          the :class:`~siamkit.training.config.TrainConfig`
* ``loader_options``  keyword arguments for every ``DataLoader`` (workers, pinned memory)

and returns the training ``DataLoader``. Its metadata:

* ``mode``     the ``--sampling`` value that selects it ("online" or "fixed"); ``None`` for an
               entry that is chosen by its own name only (``--sampling NAME``)
* ``batches``  what a batch holds: "labelled" (images and class labels, mined online),
               "pairs" or "triplets" (fixed tuples, the Siamese notebooks' way)
"""

from __future__ import annotations

import difflib
import os

from siamkit.errors import SiamkitError
from siamkit.registry import Registry

SAMPLERS = Registry("sampler", defaults={"mode": None, "batches": "labelled"})


def sampling_modes() -> tuple[str, ...]:
    """The ``--sampling`` shorthands the registered samplers answer to, in registration order."""
    modes = [SAMPLERS.metadata(name)["mode"] for name in SAMPLERS]
    return tuple(dict.fromkeys(mode for mode in modes if mode))


def sampling_choices() -> tuple[str, ...]:
    """Everything ``--sampling`` accepts: a mode or the name of a registered sampler."""
    return sampling_modes() + tuple(name for name in SAMPLERS if name not in sampling_modes())


def resolve_sampler(sampling: str, group_batches: bool, loss_tuples: str) -> str:
    """The registered sampler that ``--sampling`` means for this run.

    ``online`` draws class-labelled batches: two groups per batch with ``group_batches``,
    M images per identity otherwise; ``fixed`` draws the tuples the loss reads (triplets for a
    triplet loss, pairs otherwise). Any other value is a sampler's own name.
    """
    if sampling in SAMPLERS:
        return sampling
    candidates = [name for name in SAMPLERS if SAMPLERS.metadata(name)["mode"] == sampling]
    if not candidates:
        raise unknown_sampling(sampling)
    if sampling == "online":
        wanted = "group-batches" if group_batches else "m-per-class"
    else:
        wanted = "fixed-triplets" if loss_tuples == "triplets" else "fixed-pairs"
    return wanted if wanted in candidates else candidates[0]


def refuse_under_torchrun(message: str) -> None:
    """A one-process sampler (its batches are drawn whole, not split across ranks) under torchrun:
    ``message`` says which and what to use instead."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise SiamkitError(message)


def unknown_sampling(sampling: str) -> SiamkitError:
    choices = sampling_choices()
    close = difflib.get_close_matches(str(sampling), choices, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return SiamkitError(f"--sampling '{sampling}': unknown sampling{hint} (choose one of {', '.join(choices)})")
