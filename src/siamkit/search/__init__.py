"""Gallery search: a FAISS index over image embeddings, with per-image metadata, in one file.

``GalleryIndex`` is the public object; the other modules are its parts (FAISS backends, the
per-item table, the self-checking file container and the atomic writer).
"""

from siamkit.search.content_hash import content_hash
from siamkit.search.faiss_backends import KINDS as INDEX_KINDS
from siamkit.search.gallery_index import GalleryIndex
from siamkit.search.index_file import INDEX_FORMAT_VERSION

__all__ = ["GalleryIndex", "INDEX_FORMAT_VERSION", "INDEX_KINDS", "content_hash"]
