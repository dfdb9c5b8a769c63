"""The content hash a gallery index stores per image: sha256 of the file's bytes, in hex.

Hashing bytes rather than trusting modification times means a re-index notices an image that was
edited in place and restored with its old timestamp (rsync, ``cp -p``, git checkouts), and does
not re-embed files that were merely touched.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Union

from siamkit.errors import SiamkitError

_CHUNK_BYTES = 1 << 20
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def content_hash(path: Union[str, os.PathLike]) -> str:
    """Return the sha256 hex digest of the file at ``path``."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
                digest.update(chunk)
    except OSError as error:
        raise SiamkitError(f"cannot read {os.fspath(path)} to hash it: {error.strerror or error}") from None
    return digest.hexdigest()


def is_content_hash(value: object) -> bool:
    """True for a 64-character lowercase hex string, the shape :func:`content_hash` returns."""
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None
