"""The living gallery: images enrolled and removed while the service runs, kept in a database.

``store`` (SQLite or PostgreSQL, the source of truth), ``live`` (a server's search index kept in
step with it), ``keys`` (who may read and who may write over HTTP).
"""

from siamkit.gallery.records import NewItem
from siamkit.gallery.store import GalleryStore, open_store

__all__ = ["GalleryStore", "NewItem", "open_store"]
