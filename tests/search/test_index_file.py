import json

import pytest

from siamkit.errors import SiamkitError
from siamkit.search import GalleryIndex
from siamkit.search.index_file import MAGIC


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_round_trip_gives_identical_results(build, small_gallery, tmp_path, kind):
    embeddings, paths, _, _ = small_gallery
    index = build(kind)
    index.remove(paths[:10])  # hnsw keeps these as tombstones, which must survive the trip
    index.save(tmp_path / "gallery.sidx")
    loaded = GalleryIndex.load(tmp_path / "gallery.sidx")
    assert (loaded.kind, loaded.model_id, loaded.embedding_dim) == (index.kind, index.model_id, 32)
    assert loaded.search_params == index.search_params
    assert loaded.paths == index.paths and loaded.labels == index.labels and loaded.ids == index.ids
    assert loaded.search(embeddings[:50], k=7) == index.search(embeddings[:50], k=7)
    assert loaded.add(embeddings[:1], ["later.jpg"], ["x"], ["0" * 64]) == [300]


def test_save_replaces_atomically_and_leaves_no_temporary_files(build, tmp_path):
    target = tmp_path / "gallery.sidx"
    target.write_bytes(b"old contents")
    build("exact").save(target)
    assert [p.name for p in tmp_path.iterdir()] == ["gallery.sidx"]
    assert target.read_bytes().startswith(MAGIC)


def test_failed_save_keeps_the_previous_file(build, tmp_path, monkeypatch):
    target = tmp_path / "gallery.sidx"
    build("exact").save(target)
    before = target.read_bytes()

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("siamkit.io.atomic.os.fsync", crash)
    with pytest.raises(SiamkitError, match=r"cannot write index .*gallery\.sidx: No space left"):
        build("exact").save(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["gallery.sidx"]


@pytest.mark.parametrize("where", [0.5, 0.9, -1])
def test_flipped_byte_is_refused(build, tmp_path, where):
    target = tmp_path / "gallery.sidx"
    build("hnsw").save(target)
    data = bytearray(target.read_bytes())
    position = int(len(data) * where) if where > 0 else len(data) - 1
    data[position] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(SiamkitError, match=r"gallery\.sidx is corrupted"):
        GalleryIndex.load(target)


@pytest.mark.parametrize("keep", [0, 10, 30, 200, -1])
def test_truncated_file_is_refused(build, tmp_path, keep):
    target = tmp_path / "gallery.sidx"
    build("exact").save(target)
    data = target.read_bytes()
    target.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    with pytest.raises(SiamkitError, match=r"gallery\.sidx"):
        GalleryIndex.load(target)


def test_foreign_and_missing_files_are_refused(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    with pytest.raises(SiamkitError, match=r"photo\.jpg is not a siamkit gallery index"):
        GalleryIndex.load(tmp_path / "photo.jpg")
    with pytest.raises(SiamkitError, match=r"missing\.sidx does not exist"):
        GalleryIndex.load(tmp_path / "missing.sidx")
    # saving into a folder that does not exist yet creates it (as model folders do)
    GalleryIndex.build([[1.0, 0.0]], ["a.jpg"], ["a"], ["0" * 64], "m").save(tmp_path / "new-folder" / "x.sidx")
    assert len(GalleryIndex.load(tmp_path / "new-folder" / "x.sidx")) == 1


def test_other_format_version_is_refused(build, tmp_path):
    target = tmp_path / "gallery.sidx"
    build("exact").save(target)
    data = target.read_bytes()
    length = int.from_bytes(data[16:24], "little")
    header = json.loads(data[24 : 24 + length])
    header["format_version"] = 99
    new_header = json.dumps(header).encode()
    target.write_bytes(MAGIC + len(new_header).to_bytes(8, "little") + new_header + data[24 + length :])
    with pytest.raises(SiamkitError, match=r"gallery\.sidx has format version 99"):
        GalleryIndex.load(target)
