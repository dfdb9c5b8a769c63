import pytest

from siamkit.errors import SiamkitError
from siamkit.training.config import TrainConfig, load_config


def test_flags_override_yaml_which_overrides_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("loss: contrastive\nmargin: 2\nbatch-size: 16\nsplit: [0.6, 0.2, 0.2]\n")
    config = load_config(path, {"margin": 0.25, "lr": None})
    assert config.loss == "contrastive" and config.margin == 0.25 and config.batch_size == 16
    assert config.split == "0.6,0.2,0.2" and config.lr == TrainConfig().lr


def test_default_margins_follow_the_loss():
    assert load_config(None, {"loss": "triplet"}).effective_margin == 1.0
    assert load_config(None, {"loss": "contrastive"}).effective_margin == 0.5


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("marign: 0.5\n", "unknown key 'marign' .*did you mean 'margin'"),
        ("batch_size: many\n", "'batch_size': expected int"),
        ("augment: 3\n", "'augment': expected bool"),
        ("loss: hinge\n", "--loss 'hinge'"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: [unclosed\n", "not valid YAML"),
        ("batch_size: 30\nm_per_class: 4\n", "multiple of"),
        ("shots: 1,x\n", "--shots '1,x': give positive whole numbers"),
        ("shots: 0\n", "--shots '0'"),
        ("episode_ways: 0\n", "--episode-ways must be positive"),
        ("episodes_within_group: 1.5\n", "--episodes-within-group must be between 0 and 1"),
        ("sampling: episode\n", "--sampling 'episode'.*did you mean 'episodes'"),
        ("image_size: 12\n", "--image-size 12 is too small; use 16 or more"),
        ("episode_ways: 1\n", "--episode-ways must be at least 2"),
        ("scale_jitter: 1\n", "scale_jitter 0 to below 1"),
        ("shear: -5\n", "rotation and shear take degrees from 0"),
        ("loss: prototypical\nm_per_class: 1\nbatch_size: 8\n", "needs queries beside the 1 support image.*--sampling episodes"),
        ("loss: prototypical\nsampling: fixed\n", "learns from class labels; use --sampling online or episodes"),
    ],
)
def test_bad_yaml_gives_one_line_naming_the_key(tmp_path, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(SiamkitError, match=message) as raised:
        load_config(path)
    assert "\n" not in str(raised.value)


def test_shots_take_a_list_or_a_number(tmp_path):
    path = tmp_path / "shots.yaml"
    path.write_text("shots: [1, 5]\n")
    assert load_config(path).shots == "1,5"
    path.write_text("shots: 5\n")
    assert load_config(path).shots == "5"


def test_missing_config_file(tmp_path):
    with pytest.raises(SiamkitError, match="file not found"):
        load_config(tmp_path / "none.yaml")


def test_shipped_recipes_are_valid():
    from siamkit.training.config import recipe_file, recipe_names

    recipes = recipe_names()
    assert recipes, "siamkit.recipes holds the recipes"
    for name in recipes:
        load_config(recipe_file(name))
        load_config(name)


def test_every_recipe_is_package_data_with_a_one_line_description():
    """The wheel ships what ``siamkit.recipes`` holds: every YAML there is named in package-data."""
    from pathlib import Path

    import siamkit.recipes
    from siamkit.training.config import recipe_description, recipe_names

    folder = Path(siamkit.recipes.__file__).parent
    assert recipe_names() == sorted(path.stem for path in folder.glob("*.yaml"))
    package_data = (Path(__file__).parents[2] / "pyproject.toml").read_text().split("[tool.setuptools.package-data]")[1]
    assert '"recipes/*.yaml"' in package_data.split("\n[")[0]
    for name in recipe_names():
        assert recipe_description(name) and not recipe_description(name).startswith("#"), name


def test_a_recipe_name_loads_the_packaged_file():
    from importlib.resources import files

    from siamkit.training.config import find_config

    assert find_config("att-faces") == files("siamkit.recipes") / "att-faces.yaml"
    config = load_config("att-faces", {"lr": 3e-4})
    assert config.ways == "5" and config.episodes == 1000 and config.lr == 3e-4


def test_a_file_in_the_working_folder_wins_over_a_recipe_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "att-faces").write_text("episodes: 7\n")
    assert load_config("att-faces").episodes == 7


@pytest.mark.parametrize("given, message", [
    ("att-face", "--config att-face: no such file or recipe; did you mean 'att-faces'?"),
    ("zzz", "--config zzz: no such file or recipe; recipes: att-faces, "),
    ("configs/omniglot.yaml", "--config configs/omniglot.yaml: file not found (the recipe 'omniglot' is packaged: --config omniglot)"),
])
def test_a_wrong_recipe_name_or_missing_path_is_one_line(tmp_path, monkeypatch, given, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SiamkitError) as raised:
        load_config(given)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_online_batches_take_more_images_per_identity_when_identities_are_few():
    from siamkit.pipelines.training_run import online_batch_shape

    assert online_batch_shape(50, 4, 32) == (4, 32)
    m, batch = online_batch_shape(5, 4, 32)
    assert m * 5 >= batch and batch % m == 0 and m == 7 and batch == 28


@pytest.mark.parametrize("overrides, message", [
    ({"split_by": "alphabet"}, "--split_by 'alphabet'|--split-by 'alphabet'"),
    ({"fold": "7/5"}, "--fold '7/5'"),
])
def test_split_rule_and_fold_are_checked(overrides, message):
    with pytest.raises(SiamkitError, match=message):
        load_config(None, overrides)


def test_group_batches_need_a_batch_of_two_groups_before_any_scan():
    with pytest.raises(SiamkitError, match="group_batches: --batch-size 12 must be a multiple of 2 x --m-per-class"):
        load_config(None, {"group_batches": True, "batch_size": 12, "m_per_class": 4})
