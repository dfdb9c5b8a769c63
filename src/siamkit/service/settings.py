"""What an operator can set for the service (``siamkit serve`` flags), and the limits that follow.

Every limit a request is checked against is here, so the endpoints, the size-limit middleware
and ``/v1/model`` (which reports them to clients) read one set of numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from siamkit.errors import SiamkitError
from siamkit.service.deadlines import BODY_TIMEOUT_S
from siamkit.service.uploads import FORM_OVERHEAD_BYTES

MAX_K = 100
MAX_EMBED_IMAGES = 16
# Images over this many pixels decode one at a time in a lane of their own. A PNG of a few KB
# can claim 88 megapixels (under the decoder's limit): seconds of CPU and 0.3-1.5 GB to decode.
# Two clients sending those through the shared decode threads took valid compares from 130 ms
# to 1-10 s (p50) and the server to 2.6-5.6 GB (benchmarks/service_attack.py, pixel flood).
# 16 MP lets a 12 MP phone photo through the shared threads.
LARGE_IMAGE_PIXELS = 16_000_000


@dataclass(frozen=True)
class ServiceSettings:
    max_upload_mb: float = 10.0
    cors_origins: tuple[str, ...] = ()
    batching: bool = True
    batch_wait_ms: float = 5.0
    max_batch: int = 32
    decode_threads: int = 0  # 0: min(4, cores), at least 2
    model_workers: int = 0  # concurrent model calls; 0: cores / PyTorch threads per call
    body_timeout_s: float = BODY_TIMEOUT_S  # plus 1 s per 500 bytes received (see deadlines)
    read_access: str = "open"  # open | key: whether compare, embed, search and the gallery listing need a key

    def __post_init__(self) -> None:
        if not self.max_upload_mb > 0:
            raise SiamkitError(f"--max-upload-mb must be positive, got {self.max_upload_mb}")
        if self.batch_wait_ms < 0:
            raise SiamkitError(f"--batch-wait-ms must be 0 or more, got {self.batch_wait_ms}")
        if self.max_batch < 1:
            raise SiamkitError(f"--max-batch must be at least 1, got {self.max_batch}")
        if not self.body_timeout_s > 0:
            raise SiamkitError(f"body_timeout_s must be positive, got {self.body_timeout_s}")
        if self.read_access not in ("open", "key"):
            raise SiamkitError(f"--read-access {self.read_access!r}: open (anyone may compare, embed and search) or key")
        for origin in self.cors_origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise SiamkitError(f"--cors-origin {origin!r}: give an origin such as https://example.org, or *")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    def to_dict(self) -> dict:
        return {**asdict(self), "cors_origins": list(self.cors_origins)}


def check_gallery_options(index: bool, gallery: bool, settings: ServiceSettings, keys: bool) -> None:
    """What ``siamkit serve`` and ``create_app`` both refuse, before any store is opened."""
    if index and gallery:
        raise SiamkitError("--index and --gallery: serve one (siamkit gallery import STORE INDEX copies an index into a store)")
    if settings.read_access == "key" and not keys:
        raise SiamkitError("--read-access key needs --api-keys FILE (the keys that may read)")


def body_limits(settings: ServiceSettings) -> dict[str, int]:
    """Largest request body per endpoint: its number of images times the per-image limit."""
    per_image = settings.max_upload_bytes
    return {
        "/v1/compare": 2 * per_image + FORM_OVERHEAD_BYTES,
        "/v1/search": per_image + FORM_OVERHEAD_BYTES,
        "/v1/embed": MAX_EMBED_IMAGES * per_image + FORM_OVERHEAD_BYTES,
        "/v1/gallery": MAX_EMBED_IMAGES * per_image + FORM_OVERHEAD_BYTES,
    }
