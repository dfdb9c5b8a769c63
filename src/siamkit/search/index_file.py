"""The on-disk container of a gallery index (and of a gallery shard): one file, self-checking, no pickle.

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

Gallery shards (``gallery_shard``) use the same layout under their own magic, with embeddings
as the payload; a :class:`Container` says which file is which and how its errors read.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Container:
    """One kind of file in this layout: its magic (16 bytes), version, and the words of its errors."""

    magic: bytes
    version: int
    noun: str  # "index {path} is truncated"
    description: str  # "{path} is not a siamkit gallery index"
    remedy: str  # what to do about a damaged file
    missing: str  # what to do about a missing file
    upgrade: str  # what to do about a file of another format version


GALLERY_INDEX = Container(
    MAGIC, INDEX_FORMAT_VERSION, "index", "siamkit gallery index", "rebuild it", "build it first", "re-index with this siamkit"
)


def write_index_file(
    path: Union[str, os.PathLike], metadata: dict, index_bytes: np.ndarray, container: Container = GALLERY_INDEX
) -> None:
    """Write metadata and a binary payload (serialised FAISS bytes) to ``path`` atomically."""
    metadata_bytes = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    index_view = memoryview(np.ascontiguousarray(index_bytes, dtype=np.uint8)).cast("B")
    digest = hashlib.sha256(metadata_bytes)
    digest.update(index_view)
    header = json.dumps(
        {
            "format_version": container.version,
            "payload_sha256": digest.hexdigest(),
            "metadata_bytes": len(metadata_bytes),
            "index_bytes": len(index_view),
            "siamkit_version": __version__,
        },
        sort_keys=True,
    ).encode("utf-8")
    write_atomically(path, [container.magic, _LENGTH.pack(len(header)), header, metadata_bytes, index_view])


def read_index_file(path: Union[str, os.PathLike], container: Container = GALLERY_INDEX) -> tuple[dict, np.ndarray]:
    """Return ``(metadata, payload)`` after checking magic, version, length and sha256."""
    path, noun, remedy = Path(path), container.noun, container.remedy
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            header = _read_header(handle, size, path, container)
            metadata_length, index_length = header["metadata_bytes"], header["index_bytes"]
            expected = _PREFIX_BYTES + header["header_length"] + metadata_length + index_length
            if size < expected:
                raise SiamkitError(f"{noun} {path} is truncated ({size} of {expected} bytes); {remedy}")
            if size > expected:
                raise SiamkitError(f"{noun} {path} has {size - expected} unexpected trailing bytes; {remedy}")
            payload = bytearray(metadata_length + index_length)
            if handle.readinto(payload) != len(payload):
                raise SiamkitError(f"{noun} {path} is truncated; {remedy}")
    except FileNotFoundError:
        raise SiamkitError(f"{noun} {path} does not exist; {container.missing}") from None
    except IsADirectoryError:
        raise SiamkitError(f"{noun} {path} is a folder, not an {noun} file") from None
    except OSError as error:
        raise SiamkitError(f"cannot read {noun} {path}: {error.strerror or error}") from None
    if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        raise SiamkitError(f"{noun} {path} is corrupted (checksum mismatch); {remedy}")
    try:
        metadata = json.loads(payload[:metadata_length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SiamkitError(f"{noun} {path} has unreadable metadata; {remedy}") from None
    return metadata, np.frombuffer(payload, dtype=np.uint8, offset=metadata_length)


def _read_header(handle, size: int, path: Path, container: Container) -> dict:
    foreign = SiamkitError(f"{path} is not a {container.description} (or its header is damaged)")
    prefix = handle.read(_PREFIX_BYTES)
    if len(prefix) < _PREFIX_BYTES or not prefix.startswith(container.magic):
        raise foreign
    (header_length,) = _LENGTH.unpack(prefix[len(container.magic):])
    if header_length > min(_MAX_HEADER_BYTES, size - _PREFIX_BYTES):
        raise foreign
    try:
        header = json.loads(handle.read(header_length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise foreign from None
    if not isinstance(header, dict):
        raise foreign
    version = header.get("format_version")
    if version != container.version:
        raise SiamkitError(
            f"{container.noun} {path} has format version {version!r}; this siamkit reads version "
            f"{container.version}; {container.upgrade}"
        )
    lengths = (header.get("metadata_bytes"), header.get("index_bytes"))
    if not all(isinstance(n, int) and n >= 0 for n in lengths) or not isinstance(header.get("payload_sha256"), str):
        raise foreign
    header["header_length"] = header_length
    return header
