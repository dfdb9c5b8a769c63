"""What the gallery store holds and hands out: an image to enroll, a change to follow, and the
checks every label and metadata object passes before anything is written."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from siamkit.errors import SiamkitError

MAX_LABEL_CHARS = 200
MAX_METADATA_BYTES = 16 * 1024
MAX_PAGE = 500


@dataclass
class NewItem:
    """One image to enroll: label, embedding (unit length, the store's model), image bytes."""

    label: str
    embedding: np.ndarray
    image: bytes | None = None
    filename: str = ""
    content_sha256: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass
class Change:
    """One change after a sequence number: an enrolled item (with its embedding) or a removal."""

    seq: int
    item_id: int
    removed: bool
    label: str
    filename: str
    embedding: np.ndarray | None


def check_label(label) -> str:
    if not isinstance(label, str) or not label.strip():
        raise SiamkitError("label: give the identity's name (a non-empty text)")
    label = label.strip()
    if len(label) > MAX_LABEL_CHARS or any(ord(ch) < 32 for ch in label):
        raise SiamkitError(f"label: at most {MAX_LABEL_CHARS} characters, no control characters")
    return label


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON that every client can read")


def check_metadata(metadata) -> dict:
    if metadata is None:
        return {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata, parse_constant=_no_constant) if metadata.strip() else {}
        except json.JSONDecodeError as exc:
            raise SiamkitError(f"metadata: not JSON ({exc.msg} at character {exc.pos})") from None
        except (ValueError, RecursionError) as exc:
            raise SiamkitError(f"metadata: {exc if isinstance(exc, ValueError) else 'nested too deeply'}") from None
    if not isinstance(metadata, dict):
        raise SiamkitError("metadata: give a JSON object, such as {\"camera\": \"north gate\"}")
    try:
        text = json.dumps(metadata, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        raise SiamkitError("metadata: plain JSON only (no NaN or Infinity, not nested too deeply)") from None
    if len(text) > MAX_METADATA_BYTES:
        raise SiamkitError(f"metadata: at most {MAX_METADATA_BYTES // 1024} KB of JSON")
    return metadata


def _item(row: tuple) -> dict:
    item_id, label, filename, metadata, content_hash, created = row
    return {
        "id": int(item_id), "label": label, "filename": filename, "metadata": json.loads(metadata or "{}"),
        "content_sha256": content_hash, "created_at": float(created),
    }
