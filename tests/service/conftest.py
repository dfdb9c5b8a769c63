"""A tiny trained model, a gallery index over its images, and real uvicorn servers for them.

The model is the session's one tiny trained model (``tests/conftest.py``), indexed once per session;
each server runs uvicorn in a thread on a free localhost port, so the tests talk HTTP over a real
socket, as a browser or client would.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from PIL import Image

from siamkit.inference.siamese_model import SiameseModel
from siamkit.search import GalleryIndex, content_hash
from siamkit.service import ServiceSettings, create_app

# Small enough that the oversize tests send a few hundred KB, not megabytes.
TEST_UPLOAD_MB = 0.25


class LiveServer:
    """uvicorn serving ``app`` from a background thread on 127.0.0.1:<free port>; ``config``: more uvicorn settings."""

    def __init__(self, app, **config):
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **config))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.listener]}, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.listener.close()


@dataclass
class Gallery:
    model_folder: Path
    model: SiameseModel
    index: GalleryIndex
    index_file: Path
    paths: list[str]  # every indexed image, in id order
    labels: list[str]


@pytest.fixture(scope="session")
def gallery(trained, tmp_path_factory) -> Gallery:
    """The session's tiny trained model (``tests/conftest.py``) over an index of its training images."""
    root = tmp_path_factory.mktemp("service")
    data = trained["data"]
    model = SiameseModel.load(trained["model"])
    # One TIFF in the gallery: a format browsers cannot show, which the service sends as PNG.
    extra = root / "extra" / "id_00"
    extra.mkdir(parents=True)
    Image.open(data / "id_00" / "img_0.png").save(extra / "copy.tif")
    paths = sorted(str(path) for path in data.rglob("*.png")) + [str(extra / "copy.tif")]
    labels = [Path(path).parent.name for path in paths]
    index = GalleryIndex.build(model.embed(paths), paths, labels, [content_hash(path) for path in paths], model.model_id)
    index_file = root / "gallery.index"
    index.save(index_file)
    return Gallery(trained["model"], model, index, index_file, paths, labels)


@pytest.fixture(scope="session")
def live(gallery) -> LiveServer:
    """The service with a gallery; a 20 ms batching window so concurrent requests share batches."""
    settings = ServiceSettings(max_upload_mb=TEST_UPLOAD_MB, batch_wait_ms=20)
    with LiveServer(create_app(gallery.model, gallery.index, settings)) as server:
        yield server


@pytest.fixture(scope="session")
def live_without_gallery(gallery) -> LiveServer:
    """No index, CORS open to one origin, no batching."""
    settings = ServiceSettings(cors_origins=("http://allowed.example",), batching=False)
    with LiveServer(create_app(gallery.model, None, settings)) as server:
        yield server


@pytest.fixture(scope="session")
def other_model_folder(gallery, tmp_path_factory) -> Path:
    """Same weights, another config (threshold): a different model id."""
    import json

    folder = tmp_path_factory.mktemp("other") / "model"
    shutil.copytree(gallery.model_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    config["threshold"] = config["threshold"] + 0.5
    (folder / "config.json").write_text(json.dumps(config))
    return folder
