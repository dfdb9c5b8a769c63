"""``siamkit search`` output says match or not, takes folders of queries; ``model.search`` takes a path.

The command runs in-process (Typer's runner) over an index of the session's tiny trained model,
so these tests pay for no extra torch import.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siamkit.cli.index_commands import remember_model
from siamkit.cli.main import app
from siamkit.distances import distance_to_similarity
from siamkit.errors import SiamkitError
from siamkit.inference.siamese_model import SiameseModel

HIT_LINE = re.compile(
    r"^\s+\d+\. (same|different)\s+distance (\d\.\d{4})  similarity (\d\.\d{4}) \(match at >= (\d\.\d{4})\)  (\S+)"
)


@pytest.fixture(scope="module")
def searchable(trained, tmp_path_factory):
    """(model, index file, gallery folder): a gallery copy indexed by the trained model."""
    root = tmp_path_factory.mktemp("search-cli")
    gallery = Path(shutil.copytree(trained["gallery"], root / "gallery"))
    model = SiameseModel.load(trained["model"])
    index_file = root / "gallery.idx"
    model.index(gallery).save(index_file)
    remember_model(index_file, str(trained["model"]), model.model_id)
    return model, index_file, gallery


def _search(*args) -> str:
    result = CliRunner().invoke(app, ["search", *map(str, args)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_text_output_shows_the_match_similarity_next_to_every_score(searchable):
    model, index_file, gallery = searchable
    query = gallery / "id_01" / "img_0.png"
    lines = [line for line in _search(index_file, query, "-k", "12").splitlines() if line.startswith("  ")]
    parsed = [HIT_LINE.match(line) for line in lines]
    assert len(parsed) == 12 and all(parsed), lines
    match_at = f"{float(distance_to_similarity(model.threshold)):.4f}"
    for found in parsed:
        verdict, distance, similarity, shown_match_at, _ = found.groups()
        assert shown_match_at == match_at
        if abs(float(distance) - model.threshold) > 1e-4:  # printed to 4 places: no verdict to check at the edge
            assert (verdict == "same") == (float(distance) < model.threshold)
            assert float(similarity) >= float(match_at) if verdict == "same" else float(similarity) <= float(match_at)
    assert parsed[0].group(1) == "same" and parsed[0].group(5) == str(query)


def test_json_hits_carry_same_and_a_folder_of_queries_searches_every_image(searchable):
    model, index_file, gallery = searchable
    answers = json.loads(_search(index_file, gallery / "id_02", "-k", "3", "--json"))
    assert [answer["query"] for answer in answers] == [str(path) for path in sorted((gallery / "id_02").glob("*.png"))]
    for answer in answers:
        assert answer["hits"][0]["path"] == answer["query"]
        for hit in answer["hits"]:
            assert hit["same"] == (hit["distance"] <= model.threshold)


def test_an_empty_query_folder_is_a_one_line_error(searchable, tmp_path):
    _, index_file, _ = searchable
    (tmp_path / "nothing").mkdir()
    result = CliRunner().invoke(app, ["search", str(index_file), str(tmp_path / "nothing")])
    assert isinstance(result.exception, SiamkitError) and "no image files" in str(result.exception)


def test_model_search_takes_an_index_path_and_refuses_what_is_not_an_index(searchable):
    model, index_file, gallery = searchable
    query = str(gallery / "id_00" / "img_2.png")
    from siamkit.search import GalleryIndex

    expected = model.search(GalleryIndex.load(index_file), query, k=4)
    assert model.search(str(index_file), query, k=4) == expected
    assert model.search(index_file, query, k=4) == expected
    with pytest.raises(SiamkitError, match="GalleryIndex or an index file"):
        model.search(42, query)


@pytest.mark.slow
def test_an_ivf_index_of_a_small_gallery_warns_once_through_the_log(searchable, trained, tmp_path):
    from tests.cli.test_usage_errors import _run_all

    _, _, gallery = searchable
    result = _run_all({"ivf": ["index", str(trained["model"]), str(gallery), "--out", str(tmp_path / "g.idx"), "--kind", "ivf"]}, tmp_path)["ivf"]
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "too few to train" in line]
    assert len(warnings) == 1 and warnings[0].startswith("siamkit: warning: ivf:"), result.stderr
    assert "UserWarning" not in result.stderr and ".py:" not in result.stderr
