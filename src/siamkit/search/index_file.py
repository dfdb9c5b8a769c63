"""The on-disk container of a gallery index: one file, self-checking, no pickle.

Layout (all integers little-endian)::

    bytes 0-15   magic  b"SIAMKIT-GALLERY\\0"
    bytes 16-23  header length H (unsigned 64-bit)
    next H bytes header, UTF-8 JSON:
                 {"format_version": 1, "payload_sha256": "<hex>",
                  "metadata_bytes": A, "index_bytes": B, "siamkit_version": "..."}
    next A bytes metadata, UTF-8 JSON (model id, dimension, kind, items; see GalleryIndex)
    next B bytes the FAISS index exactly as ``faiss.serialize_index`` produced it

One file rather than a folder because galleries get copied between machines and a folder copied
half-way is the most common way to end up with an index that does not match its metadata. The
sha256 covers metadata and index together: FAISS's reader checks almost nothing and may crash or
return garbage on a damaged file, so we refuse before handing it any bytes. JSON instead of
pickle because loading an index someone sent you must never run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Union

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.io.atomic import write_chunks_atomic as write_atomically
from siamkit.version import __version__

MAGIC = b"SIAMKIT-GALLERY\x00"
# Bump when the metadata layout changes in a way older readers would misread.
INDEX_FORMAT_VERSION = 1
_LENGTH = struct.Struct("<Q")
_PREFIX_BYTES = len(MAGIC) + _LENGTH.size
# A genuine header is ~200 bytes; the cap stops a foreign file from asking for gigabytes.
_MAX_HEADER_BYTES = 1 << 16


def write_index_file(path: Union[str, os.PathLike], metadata: dict, index_bytes: np.ndarray) -> None:
    """Write metadata and serialised FAISS bytes to ``path`` atomically."""
    metadata_bytes = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    index_view = memoryview(np.ascontiguousarray(index_bytes, dtype=np.uint8)).cast("B")
    digest = hashlib.sha256(metadata_bytes)
    digest.update(index_view)
    header = json.dumps(
        {
            "format_version": INDEX_FORMAT_VERSION,
            "payload_sha256": digest.hexdigest(),
            "metadata_bytes": len(metadata_bytes),
            "index_bytes": len(index_view),
            "siamkit_version": __version__,
        },
        sort_keys=True,
    ).encode("utf-8")
    write_atomically(path, [MAGIC, _LENGTH.pack(len(header)), header, metadata_bytes, index_view])


def read_index_file(path: Union[str, os.PathLike]) -> tuple[dict, np.ndarray]:
    """Return ``(metadata, index_bytes)`` after checking magic, version, length and sha256."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            header = _read_header(handle, size, path)
            metadata_length, index_length = header["metadata_bytes"], header["index_bytes"]
            expected = _PREFIX_BYTES + header["header_length"] + metadata_length + index_length
            if size < expected:
                raise SiamkitError(f"index {path} is truncated ({size} of {expected} bytes); rebuild it")
            if size > expected:
                raise SiamkitError(f"index {path} has {size - expected} unexpected trailing bytes; rebuild it")
            payload = bytearray(metadata_length + index_length)
            if handle.readinto(payload) != len(payload):
                raise SiamkitError(f"index {path} is truncated; rebuild it")
    except FileNotFoundError:
        raise SiamkitError(f"index {path} does not exist; build it first") from None
    except IsADirectoryError:
        raise SiamkitError(f"index {path} is a folder, not an index file") from None
    except OSError as error:
        raise SiamkitError(f"cannot read index {path}: {error.strerror or error}") from None
    if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        raise SiamkitError(f"index {path} is corrupted (checksum mismatch); rebuild it")
    try:
        metadata = json.loads(payload[:metadata_length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SiamkitError(f"index {path} has unreadable metadata; rebuild it") from None
    return metadata, np.frombuffer(payload, dtype=np.uint8, offset=metadata_length)


def _read_header(handle, size: int, path: Path) -> dict:
    foreign = SiamkitError(f"{path} is not a siamkit gallery index (or its header is damaged)")
    prefix = handle.read(_PREFIX_BYTES)
    if len(prefix) < _PREFIX_BYTES or not prefix.startswith(MAGIC):
        raise foreign
    (header_length,) = _LENGTH.unpack(prefix[len(MAGIC):])
    if header_length > min(_MAX_HEADER_BYTES, size - _PREFIX_BYTES):
        raise foreign
    try:
        header = json.loads(handle.read(header_length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise foreign from None
    if not isinstance(header, dict):
        raise foreign
    version = header.get("format_version")
    if version != INDEX_FORMAT_VERSION:
        raise SiamkitError(
            f"index {path} has format version {version!r}; this siamkit reads version "
            f"{INDEX_FORMAT_VERSION}; re-index with this siamkit"
        )
    lengths = (header.get("metadata_bytes"), header.get("index_bytes"))
    if not all(isinstance(n, int) and n >= 0 for n in lengths) or not isinstance(header.get("payload_sha256"), str):
        raise foreign
    header["header_length"] = header_length
    return header
