"""The gallery store in one SQLite file: the embedded default for one server.

WAL journal (readers never wait for the writer), ``synchronous=FULL`` (a commit is on disk
before the enrollment is acknowledged), ``BEGIN IMMEDIATE`` for writes (the database's own write
lock orders the sequence numbers), and a busy timeout so a second process (``siamkit gallery
add`` while ``siamkit serve`` runs, or ``serve --workers N``) waits rather than fails.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from siamkit.errors import SiamkitError
from siamkit.gallery.store import GalleryStore

BUSY_TIMEOUT_S = 30


class SQLiteStore(GalleryStore):
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.location = str(self.path)
        if self.path.exists() and not self.path.is_file():
            raise SiamkitError(f"{self.path}: not a file; give the gallery store's .db file")
        if not self.path.parent.is_dir():
            raise SiamkitError(f"{self.path}: folder {self.path.parent} does not exist")
        try:
            self._init()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise SiamkitError(f"{self.path}: not a siamkit gallery store ({exc})") from None

    def _connect(self):
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        return _Autocommit(connection)

    def _begin_write(self, cursor) -> None:
        cursor.execute("BEGIN IMMEDIATE")

    def _schema(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS items ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT NOT NULL, filename TEXT NOT NULL,"
            " metadata TEXT NOT NULL, content_sha256 TEXT NOT NULL, embedding BLOB NOT NULL, image BLOB,"
            " created_at REAL NOT NULL, seq INTEGER NOT NULL, removed INTEGER NOT NULL DEFAULT 0)",
            "CREATE UNIQUE INDEX IF NOT EXISTS items_seq ON items (seq)",
            "CREATE INDEX IF NOT EXISTS items_label ON items (label, id)",
        ]

    def _insert_returning_id(self, cursor, row: tuple) -> int:
        cursor.execute(
            "INSERT INTO items (label, filename, metadata, content_sha256, embedding, image, created_at, seq)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
        return int(cursor.lastrowid)


class _Autocommit:
    """sqlite3 in autocommit mode (isolation_level=None) with explicit BEGIN: commit and
    rollback only when a transaction is open, so reads need no transaction at all."""

    def __init__(self, connection: sqlite3.Connection):
        self._connection = connection

    def cursor(self):
        return self._connection.cursor()

    def commit(self) -> None:
        if self._connection.in_transaction:
            self._connection.execute("COMMIT")

    def rollback(self) -> None:
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")

    def close(self) -> None:
        self._connection.close()
