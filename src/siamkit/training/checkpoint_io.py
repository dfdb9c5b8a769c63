"""Lightning checkpoints written like every other siamkit file: temporary name, then rename.

Lightning's own ``TorchCheckpointIO`` serialises into memory and writes through an fsspec
"transaction". On a local disk that transaction writes to a file in the system temp folder and
then ``shutil.move``s it over ``last.ckpt``: atomic only while the temp folder and the run folder
share a file system. With ``/tmp`` on tmpfs or the run on another volume the move becomes a copy
into the open target, so a process killed mid-copy leaves a torn ``last.ckpt`` (and ``--resume``
nothing to resume from), and each kill strands a checkpoint-sized file in ``/tmp``. Nothing is
fsynced either, so after a power cut the renamed file can be empty.

:class:`AtomicCheckpointIO` writes next to the target (``.last.ckpt.XXXX.tmp``), fsyncs it and
``os.replace``s it, through :func:`siamkit.io.atomic.atomic_path` like the rest of the run folder.
Remote URLs (``s3://...``) keep Lightning's behaviour, whose object stores commit whole objects.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from siamkit.io.atomic import atomic_path


def _is_local(path: str | os.PathLike) -> bool:
    text = str(path)
    return "://" not in text or text.startswith("file://")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save each checkpoint to a temporary name in its own folder, then rename it into place."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None or not _is_local(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target = str(path).removeprefix("file://")
        with atomic_path(target) as temporary:
            torch.save(checkpoint, temporary)
