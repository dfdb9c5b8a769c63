"""The gallery store in PostgreSQL: one gallery shared by several servers on several machines.

Writes serialise on a transaction-level advisory lock, so the sequence numbers that servers
follow (:meth:`GalleryStore.changes_since`) are handed out in commit order: a server that has
applied number N has seen every change up to N, whichever server made it. Each server polls
for newer numbers (``siamkit.gallery.live``), so it sees another's enrollment within a fraction
of a second. Needs the ``psycopg`` driver (``pip install 'psycopg[binary]'``).
"""

from __future__ import annotations

from siamkit.errors import SiamkitError
from siamkit.gallery.store import GalleryStore

WRITE_LOCK = 0x5349414D  # "SIAM": one advisory lock number for every siamkit gallery writer


class PostgresStore(GalleryStore):
    placeholder = "%s"

    def __init__(self, url: str):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise SiamkitError("a PostgreSQL gallery store needs the psycopg driver: pip install 'psycopg[binary]'") from None
        self.url = url
        self.location = _without_password(url)
        try:
            self._init()
        except Exception as exc:  # noqa: BLE001 - psycopg's errors: one line naming the store
            self.close()
            if isinstance(exc, SiamkitError):
                raise
            raise SiamkitError(f"{self.location}: cannot use the gallery store ({_first_line(exc)})") from None

    def _connect(self):
        import psycopg

        return psycopg.connect(self.url, connect_timeout=10)

    def _begin_write(self, cursor) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))

    def _schema(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS items ("
            " id BIGSERIAL PRIMARY KEY, label TEXT NOT NULL, filename TEXT NOT NULL,"
            " metadata TEXT NOT NULL, content_sha256 TEXT NOT NULL, embedding BYTEA NOT NULL, image BYTEA,"
            " created_at DOUBLE PRECISION NOT NULL, seq BIGINT NOT NULL, removed INTEGER NOT NULL DEFAULT 0)",
            "CREATE UNIQUE INDEX IF NOT EXISTS items_seq ON items (seq)",
            "CREATE INDEX IF NOT EXISTS items_label ON items (label, id)",
        ]

    def _insert_returning_id(self, cursor, row: tuple) -> int:
        cursor.execute(
            "INSERT INTO items (label, filename, metadata, content_sha256, embedding, image, created_at, seq)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            row,
        )
        return int(cursor.fetchone()[0])


def _without_password(url: str) -> str:
    """The URL as it may be printed: a password in it is replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
