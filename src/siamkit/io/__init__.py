"""Writing files so that a crash never leaves a half-written one in place of a good one."""

from siamkit.io.atomic import atomic_path, write_bytes_atomic, write_chunks_atomic, write_text_atomic

__all__ = ["atomic_path", "write_bytes_atomic", "write_chunks_atomic", "write_text_atomic"]
