"""The living gallery's source of truth: a database of enrolled images and their embeddings.

A store holds, for each enrolled image, its label, optional metadata, the image bytes (so the
web page and every server can show it), its content hash and its embedding by the store's one
model. Every change (an enrollment or a removal) gets the next number of one sequence, in
commit order, so a server keeps its search index in step by reading the changes after the last
number it applied (:meth:`GalleryStore.changes_since`). SQLite (one file, WAL) serves one machine;
PostgreSQL lets several ``siamkit serve`` processes on several machines share one gallery.

An enrollment is one transaction: every image of a request is in, or none is. A commit
returns only once the database has it on disk (SQLite ``synchronous=FULL``; PostgreSQL's
default), so an acknowledged enrollment survives ``kill -9`` of the server.
"""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.gallery.records import (  # noqa: F401  (NewItem, Change, the checks: importable from here)
    MAX_LABEL_CHARS, MAX_METADATA_BYTES, MAX_PAGE, Change, NewItem, _item, check_label, check_metadata,
)

SCHEMA_VERSION = "1"


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def sqlite_path(location: str) -> Path:
    """The SQLite file a store location names (a path, or ``sqlite:///path``)."""
    return Path(location.removeprefix("sqlite:///"))


def open_store(location: str | os.PathLike, create: bool = False, model_id: str | None = None, embedding_dim: int | None = None):
    """The store at ``location``: ``postgresql://...`` (or ``postgres://``), else an SQLite file.

    ``create`` makes a missing SQLite file (and the tables of an empty PostgreSQL database);
    ``model_id`` and ``embedding_dim`` are recorded by the first writer and checked by everyone
    after: a store's embeddings all come from one model.
    """
    text = os.fspath(location)
    if is_postgres_url(text):
        from siamkit.gallery.postgres_store import PostgresStore

        store = PostgresStore(text)
    else:
        from siamkit.gallery.sqlite_store import SQLiteStore

        path = sqlite_path(text)
        if not create and not path.is_file():
            raise SiamkitError(f"{path}: no gallery store there (siamkit gallery add creates one)")
        store = SQLiteStore(path)
    if model_id is not None:
        store.bind_model(model_id, embedding_dim)
    return store


class GalleryStore:
    """What both databases share; subclasses connect and say how their SQL differs.

    One connection per thread (the service calls the store from a thread pool). Writes take
    the store's write lock for their transaction, so sequence numbers are handed out in commit
    order and a reader that has applied number N has seen every change up to N.
    """

    placeholder = "?"
    location: str

    # -- connections and schema (subclasses) ---------------------------------------------
    def _connect(self):
        raise NotImplementedError

    def _begin_write(self, cursor) -> None:
        raise NotImplementedError

    def _schema(self) -> list[str]:
        raise NotImplementedError

    def _insert_returning_id(self, cursor, row: tuple) -> int:
        raise NotImplementedError

    def _init(self) -> None:
        self._local = threading.local()
        self._connections: list = []
        self._connections_lock = threading.Lock()
        with self._write() as cursor:
            for statement in self._schema():
                cursor.execute(statement)
            cursor.execute(self._sql("SELECT value FROM meta WHERE key = ?"), ("schema_version",))
            row = cursor.fetchone()
            if row is None:
                cursor.execute(self._sql("INSERT INTO meta (key, value) VALUES (?, ?)"), ("schema_version", SCHEMA_VERSION))
            elif row[0] != SCHEMA_VERSION:
                raise SiamkitError(f"{self.location}: gallery store schema {row[0]}, this siamkit reads {SCHEMA_VERSION}")

    def _sql(self, statement: str) -> str:
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)

    def connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.close()
                except Exception:  # noqa: BLE001 - closing at shutdown, nothing to report
                    pass
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location})"

    @contextmanager
    def _write(self):
        """One write transaction under the store's write lock: committed on success, else rolled
        back (a failed COMMIT too: it must not land later, on the next statement of this thread)."""
        connection = self.connection()
        cursor = connection.cursor()
        try:
            self._begin_write(cursor)
            yield cursor
            connection.commit()
        except BaseException:
            self._recover(connection)
            raise
        finally:
            cursor.close()

    def _read(self, statement: str, parameters: tuple = ()) -> list[tuple]:
        connection = self.connection()
        cursor = connection.cursor()
        try:
            cursor.execute(self._sql(statement), parameters)
            rows = cursor.fetchall()
            connection.commit()  # end the read transaction, so the next read sees newer commits
        except BaseException:
            self._recover(connection)
            raise
        finally:
            cursor.close()
        return rows

    def _recover(self, connection) -> None:
        """After a failed statement: roll back, and where the connection itself is broken (a
        restarted server, a dropped socket) forget it, so this thread's next call reconnects."""
        try:
            connection.rollback()
            if not getattr(connection, "closed", False):
                return
        except Exception:  # noqa: BLE001 - the connection is unusable: replaced below
            pass
        self._local.connection = None
        with self._connections_lock:
            if connection in self._connections:
                self._connections.remove(connection)
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - already broken
            pass

    # -- the model ---------------------------------------------------------------------------
    def model(self) -> tuple[str | None, int | None]:
        rows = dict(self._read("SELECT key, value FROM meta WHERE key IN ('model_id', 'embedding_dim')"))
        return rows.get("model_id"), int(rows["embedding_dim"]) if "embedding_dim" in rows else None

    def bind_model(self, model_id: str, embedding_dim: int | None) -> None:
        """Record the model on first use; refuse another model's embeddings afterwards."""
        with self._write() as cursor:
            cursor.execute("SELECT key, value FROM meta WHERE key IN ('model_id', 'embedding_dim')")
            known = dict(cursor.fetchall())
            if "model_id" not in known:
                cursor.execute(self._sql("INSERT INTO meta (key, value) VALUES (?, ?)"), ("model_id", model_id))
                cursor.execute(self._sql("INSERT INTO meta (key, value) VALUES (?, ?)"), ("embedding_dim", str(int(embedding_dim or 0))))
                return
        if known["model_id"] != model_id:
            raise SiamkitError(
                f"gallery store {self.location} holds embeddings of model {known['model_id']}, not {model_id}; "
                "use that model, or a new store (siamkit gallery import can refill one from the images)"
            )

    # -- writing -----------------------------------------------------------------------------
    def add(self, items: list[NewItem]) -> list[int]:
        """Enroll ``items`` in one transaction; their new ids, in order."""
        if not items:
            return []
        _, dim = self.model()
        rows = []
        for item in items:
            label = check_label(item.label)
            metadata = json.dumps(check_metadata(item.metadata), ensure_ascii=False)
            vector = np.ascontiguousarray(item.embedding, dtype=np.float32).reshape(-1)
            if dim and vector.shape[0] != dim:
                raise SiamkitError(f"{item.filename or label}: embedding of {vector.shape[0]} numbers, the store holds {dim}")
            if not np.all(np.isfinite(vector)):
                raise SiamkitError(f"{item.filename or label}: embedding is not finite")
            rows.append((label, item.filename[:255], metadata, item.content_sha256, vector.tobytes(), item.image))
        now = time.time()
        with self._write() as cursor:
            seq = self._last_seq(cursor)
            ids = []
            for offset, (label, filename, metadata, content_hash, vector, image) in enumerate(rows, start=1):
                row = (label, filename, metadata, content_hash, self._blob(vector), None if image is None else self._blob(image), now, seq + offset)
                ids.append(self._insert_returning_id(cursor, row))
        return ids

    def remove(self, ids) -> list[int]:
        """Remove items by id in one transaction; the ids that were there (others are ignored)."""
        wanted = sorted({int(item_id) for item_id in ids})
        removed = []
        with self._write() as cursor:
            seq = self._last_seq(cursor)
            for item_id in wanted:
                cursor.execute(
                    self._sql("UPDATE items SET removed = 1, seq = ?, image = NULL WHERE id = ? AND removed = 0"),
                    (seq + len(removed) + 1, item_id),
                )
                if cursor.rowcount == 1:
                    removed.append(item_id)
        return removed

    def _last_seq(self, cursor) -> int:
        cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM items")
        return int(cursor.fetchone()[0])

    def _blob(self, data: bytes):
        return data

    # -- reading -----------------------------------------------------------------------------
    def changes_since(self, seq: int, limit: int = 50_000) -> list[Change]:
        """Changes with a sequence number above ``seq``, in order (at most ``limit``)."""
        rows = self._read(
            f"SELECT seq, id, removed, label, filename, embedding FROM items WHERE seq > ? ORDER BY seq LIMIT {int(limit)}",
            (int(seq),),
        )
        return [
            Change(int(s), int(i), bool(r), label, filename, None if r else np.frombuffer(bytes(vector), dtype=np.float32))
            for s, i, r, label, filename, vector in rows
        ]

    def count(self, label: str | None = None) -> int:
        if label is None:
            return int(self._read("SELECT COUNT(*) FROM items WHERE removed = 0")[0][0])
        return int(self._read("SELECT COUNT(*) FROM items WHERE removed = 0 AND label = ?", (label,))[0][0])

    def list(self, label: str | None = None, offset: int = 0, limit: int = 50) -> list[dict]:
        """Enrolled items (no embeddings, no image bytes), by id, one page."""
        if not 1 <= int(limit) <= MAX_PAGE or int(offset) < 0:
            raise SiamkitError(f"limit must be 1-{MAX_PAGE} and offset 0 or more")
        where, parameters = ("removed = 0", ()) if label is None else ("removed = 0 AND label = ?", (label,))
        rows = self._read(
            f"SELECT id, label, filename, metadata, content_sha256, created_at FROM items WHERE {where} ORDER BY id LIMIT {int(limit)} OFFSET {int(offset)}",
            parameters,
        )
        return [_item(row) for row in rows]

    def get(self, item_id: int) -> dict | None:
        rows = self._read("SELECT id, label, filename, metadata, content_sha256, created_at FROM items WHERE id = ? AND removed = 0", (int(item_id),))
        return _item(rows[0]) if rows else None

    def image(self, item_id: int) -> bytes | None:
        rows = self._read("SELECT image FROM items WHERE id = ? AND removed = 0", (int(item_id),))
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    def labels(self) -> list[tuple[str, int]]:
        """Every enrolled label with its number of images, by label."""
        rows = self._read("SELECT label, COUNT(*) FROM items WHERE removed = 0 GROUP BY label ORDER BY label")
        return [(label, int(count)) for label, count in rows]
