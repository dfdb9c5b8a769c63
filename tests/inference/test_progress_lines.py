"""Progress where output is not a terminal: a log line at every tenth of a long job, never a bar."""

import logging

import numpy as np

from siamkit.inference.embedder import BatchEmbedder
from siamkit.io import terminal
from siamkit.io.terminal import LineProgress, progress_bar, progress_mode


def test_a_long_job_logs_every_tenth_and_a_short_one_nothing(caplog):
    with caplog.at_level(logging.INFO, logger="siamkit"):
        with LineProgress(5000, "indexing") as bar:
            for _ in range(10):
                bar.update(500)
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 9 and lines[0].startswith("indexing: 500 of 5,000 images (10 %")
        assert lines[-1].startswith("indexing: 4,500 of 5,000 images (90 %")
        caplog.clear()
        with LineProgress(999, "quick") as bar:
            bar.update(999)
        assert not caplog.records


def test_a_resumed_job_counts_from_where_it_was():
    bar = LineProgress(2000, "shard", initial=1100)
    assert bar.next == 1200


def test_the_mode_follows_the_terminal_and_quiet(monkeypatch):
    logger = logging.getLogger("siamkit")
    level = logger.level
    try:
        logger.setLevel(logging.INFO)
        monkeypatch.setattr(terminal.sys.stderr, "isatty", lambda: False)
        assert progress_mode() == "lines"
        monkeypatch.setattr(terminal.sys.stderr, "isatty", lambda: True)
        assert progress_mode() is True
        logger.setLevel(logging.WARNING)  # -q
        assert progress_mode() is False
    finally:
        logger.setLevel(level)
    assert isinstance(progress_bar("lines", 10, "x"), LineProgress)


class _Means(BatchEmbedder):
    takes_numpy = True

    def __init__(self, preprocessing):
        self.preprocessing, self.batch_size = preprocessing, 400

    def embed_tensors(self, images):
        return images.mean(axis=(2, 3))


def test_an_embedder_asked_for_lines_logs_them(caplog):
    from siamkit.data.preprocessing import Preprocessing

    images = [np.full((8, 8, 3), i % 255, dtype=np.uint8) for i in range(1200)]
    with caplog.at_level(logging.INFO, logger="siamkit"):
        embeddings = _Means(Preprocessing(8, (0.5,) * 3, (0.5,) * 3)).embed(images, progress="lines", description="embedding")
    assert embeddings.shape == (1200, 3)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["embedding: 400 of 1,200 images", "embedding: 800 of 1,200 images"]
