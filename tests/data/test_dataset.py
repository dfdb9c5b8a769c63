import logging

import pytest
from PIL import Image

from siamkit.data.dataset import scan_dataset
from siamkit.errors import SiamkitError
from tests.conftest import make_identity_images


def test_leaf_folders_are_identities_and_parents_are_groups(tmp_path):
    make_identity_images(tmp_path / "Greek", identities=2, per_identity=2)
    make_identity_images(tmp_path / "Latin", identities=2, per_identity=2, seed=1)
    dataset = scan_dataset(tmp_path)
    assert sorted(dataset.identities()) == ["Greek/id_00", "Greek/id_01", "Latin/id_00", "Latin/id_01"]
    assert {r.group for r in dataset.records} == {"Greek", "Latin"}


def test_bad_files_are_skipped_with_one_warning_naming_them(tmp_path, caplog):
    make_identity_images(tmp_path, identities=3, per_identity=3)
    (tmp_path / "id_00" / "text.png").write_text("not an image")
    (tmp_path / "id_01" / "empty.jpg").write_bytes(b"")
    (tmp_path / "empty_folder").mkdir()
    with caplog.at_level(logging.WARNING, logger="siamkit"):
        dataset = scan_dataset(tmp_path)
    assert len(dataset) == 9
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "skipped 2 unreadable" in warnings[0] and "text.png" in warnings[0] and "empty.jpg" in warnings[0]


def test_csv_dataset_paths_are_relative_to_the_csv(tmp_path):
    make_identity_images(tmp_path / "imgs", identities=2, per_identity=2)
    (tmp_path / "list.csv").write_text("path,label\nimgs/id_00/img_0.png,a\nimgs/id_00/img_1.png,a\nimgs/id_01/img_0.png,b\n")
    dataset = scan_dataset(tmp_path / "list.csv")
    assert dataset.labels == ["a", "a", "b"]


@pytest.mark.parametrize(
    "content, message",
    [("file,name\nx.png,a\n", "needs 'path' and 'label'"), ("path,label\n,a\n", "line 2")],
)
def test_bad_csv(tmp_path, content, message):
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(SiamkitError, match=message):
        scan_dataset(tmp_path / "bad.csv")


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(SiamkitError, match="no image files"):
        scan_dataset(tmp_path)
    with pytest.raises(SiamkitError, match="not found"):
        scan_dataset(tmp_path / "nope")


def test_images_directly_in_root_are_refused(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    with pytest.raises(SiamkitError, match="own subfolder"):
        scan_dataset(tmp_path)


def _csv(tmp_path, rows: list[str]):
    make_identity_images(tmp_path / "imgs", identities=3, per_identity=2)
    (tmp_path / "list.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    return tmp_path / "list.csv"


def test_csv_listing_one_image_twice_is_refused_naming_both_lines(tmp_path):
    # Listed twice, one file would make a positive pair with itself (distance 0).
    csv_path = _csv(tmp_path, ["imgs/id_00/img_0.png,a", "imgs/id_00/img_1.png,a", "imgs/id_01/img_0.png,b",
                               "./imgs/id_00/img_0.png,a"])
    with pytest.raises(SiamkitError, match=r"lines? 2 and 5") as caught:
        scan_dataset(csv_path)
    assert "\n" not in str(caught.value) and "img_0.png" in str(caught.value)


def test_csv_path_under_two_labels_is_refused_naming_both_lines(tmp_path):
    # One image under two labels would put one identity's picture in two identities (and splits).
    csv_path = _csv(tmp_path, ["imgs/id_00/img_0.png,a", "imgs/id_00/img_1.png,a", "imgs/id_01/img_0.png,b",
                               "imgs/id_01/img_1.png,b", "imgs/id_01/img_0.png,c"])
    with pytest.raises(SiamkitError, match=r"lines? 4 and 6") as caught:
        scan_dataset(csv_path)
    assert "'b'" in str(caught.value) and "'c'" in str(caught.value) and "\n" not in str(caught.value)
