"""What a gallery index knows about each image besides its embedding.

FAISS stores vectors under int64 ids and nothing else, so the path, label and content hash of
every item live here, keyed by the same id. Ids only ever grow and are never handed out twice:
a search result, a log line or a cached thumbnail that mentions id 41 keeps meaning the same
image even after other images were removed and new ones added. A re-embedded (changed) image
gets a new id for the same reason: its old results were computed from other pixels.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.search.content_hash import is_content_hash


def as_path_list(paths) -> list[str]:
    """Accept one path or many; a bare string is one path, not a sequence of characters."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return [os.fspath(path) for path in paths]


class GalleryItems:
    """id -> (path, label, content hash), plus path -> id; insertion order is id order."""

    def __init__(self, next_id: int = 0):
        self._items: dict[int, tuple[str, str, str]] = {}
        self._ids_by_path: dict[str, int] = {}
        self.next_id = next_id

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, path: str) -> bool:
        return path in self._ids_by_path

    @property
    def ids(self) -> list[int]:
        return list(self._items)

    @property
    def paths(self) -> list[str]:
        return [path for path, _, _ in self._items.values()]

    @property
    def labels(self) -> list[str]:
        return [label for _, label, _ in self._items.values()]

    def id_of(self, path: str) -> int | None:
        return self._ids_by_path.get(path)

    def hash_of(self, path: str) -> str | None:
        item_id = self._ids_by_path.get(path)
        return None if item_id is None else self._items[item_id][2]

    def get(self, item_id: int) -> dict | None:
        item = self._items.get(int(item_id))
        if item is None:
            return None
        path, label, content_hash = item
        return {"id": int(item_id), "path": path, "label": label, "content_hash": content_hash}

    def hit(self, item_id: int) -> tuple[str, str] | None:
        """``(path, label)`` of a live item, or None for an id that is gone."""
        item = self._items.get(int(item_id))
        return None if item is None else item[:2]

    @staticmethod
    def validate(n: int, paths: Sequence, labels: Sequence, content_hashes: Sequence, where: str) -> tuple:
        """Check one batch before anything is changed, so a bad batch leaves the index intact."""
        paths = as_path_list(paths)
        labels = [str(label) for label in labels]
        content_hashes = [h.lower() if isinstance(h, str) else h for h in content_hashes]
        if not len(paths) == len(labels) == len(content_hashes) == n:
            raise SiamkitError(
                f"{where}: got {n} embeddings but {len(paths)} paths, {len(labels)} labels and "
                f"{len(content_hashes)} content hashes; pass one of each per image"
            )
        seen: set[str] = set()
        for path, content_hash in zip(paths, content_hashes):
            if path in seen:
                raise SiamkitError(f"{where}: {path} is listed twice; each image may be indexed once")
            seen.add(path)
            if not is_content_hash(content_hash):
                raise SiamkitError(
                    f"{where}: content hash of {path} is {content_hash!r}, not a sha256 hex digest; "
                    "use siamkit.search.content_hash()"
                )
        return paths, labels, content_hashes

    def allocate(self, paths: list[str], labels: list[str], content_hashes: list[str]) -> np.ndarray:
        """Register new items (paths must not be present) and return their fresh ids."""
        ids = np.arange(self.next_id, self.next_id + len(paths), dtype=np.int64)
        for item_id, path, label, content_hash in zip(ids.tolist(), paths, labels, content_hashes):
            self._items[item_id] = (path, label, content_hash)
            self._ids_by_path[path] = item_id
        self.next_id += len(paths)
        return ids

    def remove_ids(self, ids: Iterable[int]) -> None:
        for item_id in ids:
            path, _, _ = self._items.pop(int(item_id))
            del self._ids_by_path[path]

    def to_json(self) -> dict:
        """Columns rather than one object per item: a third of the size for large galleries."""
        columns = list(zip(*self._items.values())) or [(), (), ()]
        return {
            "next_id": self.next_id,
            "ids": self.ids,
            "paths": list(columns[0]),
            "labels": list(columns[1]),
            "content_hashes": list(columns[2]),
        }

    @classmethod
    def from_json(cls, data: dict) -> "GalleryItems":
        items = cls(int(data["next_id"]))
        columns = (data["ids"], data["paths"], data["labels"], data["content_hashes"])
        if len({len(column) for column in columns}) != 1:
            raise ValueError("item columns differ in length")
        for item_id, path, label, content_hash in zip(*columns):
            if item_id >= items.next_id or path in items._ids_by_path:
                raise ValueError("inconsistent item ids or paths")
            items._items[int(item_id)] = (str(path), str(label), str(content_hash))
            items._ids_by_path[str(path)] = int(item_id)
        return items
