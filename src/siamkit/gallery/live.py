"""A server's search index over a gallery store, kept in step with the database.

The store is the source of truth; this is a FAISS inner-product index (exact: a living gallery
changes every minute, which graph and cluster indexes handle badly) keyed by item id, plus each
item's label and file name. :meth:`LiveGallery.catch_up` applies every change after the last
sequence number it has seen, in order; the server calls it after each of its own writes (so a
search sees an enrollment as soon as it is acknowledged) and a background thread calls it every
``poll_s`` seconds (so it sees what other servers and ``siamkit gallery add`` wrote).
"""

from __future__ import annotations

import logging
import threading

import faiss
import numpy as np

from siamkit.errors import SiamkitError
from siamkit.gallery.store import GalleryStore
from siamkit.search.exact_backend import ExactBackend
from siamkit.search.gallery_index import search_hits
from siamkit.search.unit_vectors import as_unit_vectors

log = logging.getLogger("siamkit")

POLL_S = 0.25


class LiveGallery:
    def __init__(self, store: GalleryStore, model_id: str, embedding_dim: int, poll_s: float = POLL_S):
        store.bind_model(model_id, embedding_dim)
        self.store = store
        self.model_id = model_id
        self.embedding_dim = embedding_dim
        self.poll_s = poll_s
        self.seq = 0
        # exact search, on the calling thread alone for a single query (siamkit.search's exact kind)
        self._index = ExactBackend(faiss.IndexIDMap2(faiss.IndexFlatIP(embedding_dim)))
        self._items: dict[int, tuple[str, str]] = {}  # id -> (label, file name)
        self._lock = threading.Lock()  # FAISS may not be searched while it is changed
        self._catch_up_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.catch_up()

    def __len__(self) -> int:
        return len(self._items)

    # -- keeping in step ---------------------------------------------------------------------
    def catch_up(self) -> int:
        """Apply the store's changes after ``self.seq``; how many were applied."""
        applied = 0
        with self._catch_up_lock:
            while True:
                changes = self.store.changes_since(self.seq)
                if not changes:
                    return applied
                self._apply(changes)
                applied += len(changes)

    def _apply(self, changes) -> None:
        added_ids, added_vectors, removed = [], [], []
        for change in changes:
            if change.removed:
                removed.append(change.item_id)
            else:
                added_ids.append(change.item_id)
                added_vectors.append(change.embedding)
        with self._lock:
            if added_ids:
                vectors = np.stack(added_vectors).astype(np.float32)
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                vectors /= np.maximum(norms, 1e-12)
                self._index.add(vectors, np.asarray(added_ids, dtype=np.int64))
                for change in changes:
                    if not change.removed:
                        self._items[change.item_id] = (change.label, change.filename)
            gone = [item_id for item_id in removed if item_id in self._items]
            if gone:
                self._index.remove(np.asarray(gone, dtype=np.int64))
                for item_id in gone:
                    del self._items[item_id]
            self.seq = changes[-1].seq

    def start(self) -> None:
        """Poll the store in a background thread until :meth:`stop`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, name="siamkit-gallery-poll", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _poll(self) -> None:
        failing = False
        while not self._stop.wait(self.poll_s):
            try:
                self.catch_up()
                if failing:
                    log.warning("gallery store %s: reachable again", self.store.location)
                failing = False
            except Exception as exc:  # noqa: BLE001 - keep serving what we have; say so once
                if not failing:
                    log.warning("gallery store %s: cannot read changes (%s); searching the last state seen", self.store.location, exc)
                failing = True

    # -- searching ---------------------------------------------------------------------------
    def search(self, query_embeddings, k: int = 10) -> list[list[dict]]:
        """Top-``k`` items per query, best first, as :meth:`GalleryIndex.search` gives them
        (``path`` is the enrolled file name)."""
        queries = as_unit_vectors(query_embeddings, self.embedding_dim, f"gallery {self.store.location}")
        with self._lock:
            if not self._items:
                raise SiamkitError("the gallery is empty; enroll images before searching")
            want = min(int(k), len(self._items))
            cosine, ids = self._index.search(queries, want)
            # (file name, label) of the hits, read under the lock: removals may follow at once
            found = {item_id: self._items[item_id][::-1] for item_id in ids.ravel().tolist() if item_id in self._items}
        return [search_hits(row_cosine, row_ids, found.get) for row_cosine, row_ids in zip(cosine, ids)]
