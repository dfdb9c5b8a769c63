"""Gallery search: a FAISS index over image embeddings, with per-image metadata, in one file.

``GalleryIndex`` is the public object; the other modules are its parts (FAISS backends, the
per-item table, the self-checking file container and the atomic writer). A gallery embedded in
parts arrives as ``GalleryShard`` files, which ``merge_shards`` joins into one index.
"""

from siamkit.search.content_hash import content_hash
from siamkit.search.faiss_backends import KINDS as INDEX_KINDS
from siamkit.search.gallery_index import GalleryIndex
from siamkit.search.gallery_shard import GalleryShard
from siamkit.search.index_file import INDEX_FORMAT_VERSION
from siamkit.search.shard_merge import merge_shards

__all__ = ["GalleryIndex", "GalleryShard", "INDEX_FORMAT_VERSION", "INDEX_KINDS", "content_hash", "merge_shards"]
