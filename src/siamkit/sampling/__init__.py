"""Samplers: pairs, triplets and M-per-class batches for training, by name (``SAMPLERS``).

Importing this package registers the built-in samplers (``m-per-class`` and ``group-batches``
for ``--sampling online``, ``fixed-pairs`` and ``fixed-triplets`` for ``--sampling fixed``, ``episodes`` for the
prototypical loss);
user code registers its own with ``@SAMPLERS.register("name")`` and picks it with
``--sampling name``. See :mod:`siamkit.sampling.registry` for the builder's call.
"""

from siamkit.sampling import class_batches, episodes, fixed_loaders  # noqa: F401  (registers the entries)
from siamkit.sampling.class_batches import online_batch_shape
from siamkit.sampling.registry import SAMPLERS, resolve_sampler, sampling_choices, sampling_modes

__all__ = ["SAMPLERS", "online_batch_shape", "resolve_sampler", "sampling_choices", "sampling_modes"]
