import math

import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.evaluation import one_shot_accuracy, triplet_accuracy

from .conftest import clustered, random_embeddings


def test_perfect_clusters_score_one():
    embeddings, labels = clustered(25, 3)
    result = one_shot_accuracy(embeddings, labels, ways=20, episodes=200)
    assert result["accuracy"] == 1.0 and result["ci95_high"] == 1.0 and 0.95 < result["ci95_low"] < 1.0
    assert result["episodes"] == 200 and result["ways"] == 20 and result["chance"] == 0.05


@pytest.mark.parametrize("ways, low, high", [(5, 0.10, 0.32), (20, 0.0, 0.12)])
def test_random_embeddings_score_near_chance(ways, low, high):
    # Exactly 2 images per identity: if a query could be its own support, accuracy would be 1.
    embeddings, labels = random_embeddings(60, 2)
    accuracy = one_shot_accuracy(embeddings, labels, ways=ways, episodes=400)["accuracy"]
    assert low < accuracy < high  # chance is 1/ways; 400 episodes keep it within a few points


def test_collapsed_embeddings_score_chance_not_zero():
    labels = np.repeat(np.arange(10), 2)
    accuracy = one_shot_accuracy(np.ones((20, 4)), labels, ways=5, episodes=400)["accuracy"]
    assert 0.12 < accuracy < 0.3  # all distances tie; ties are broken at random


def test_seeded_and_ci95():
    embeddings, labels = random_embeddings(30, 3, seed=5)
    first = one_shot_accuracy(embeddings, labels, ways=5, seed=11)
    assert first == one_shot_accuracy(embeddings, labels, ways=5, seed=11)
    assert first != one_shot_accuracy(embeddings, labels, ways=5, seed=12)
    # Wilson score interval over the 400 episodes; ci95 stays its half-width for older readers.
    p, n, z = first["accuracy"], 400, 1.959963984540054
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (first["ci95_low"], first["ci95_high"]) == pytest.approx((centre - half, centre + half))
    assert first["ci95"] == pytest.approx(half)


def test_within_group_uses_only_look_alikes():
    # 4 groups far apart; the 6 identities inside a group are barely separated. Mixed-group
    # episodes are mostly easy (other groups are far away), within-group ones are hard.
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(24), 3)
    groups = labels // 6
    group_centres = 10 * np.eye(8)[:4]
    embeddings = group_centres[groups] + rng.normal(size=(72, 8))
    mixed = one_shot_accuracy(embeddings, labels, ways=5, groups=groups, within_group=False)["accuracy"]
    within = one_shot_accuracy(embeddings, labels, ways=5, groups=groups, within_group=True)["accuracy"]
    assert within < mixed - 0.2


def test_not_enough_identities_is_a_user_error():
    embeddings, labels = clustered(4, 2)
    with pytest.raises(SiamkitError):
        one_shot_accuracy(embeddings, labels, ways=5)
    groups = labels % 2  # two groups of 2 identities each
    with pytest.raises(SiamkitError):
        one_shot_accuracy(embeddings, labels, ways=3, groups=groups, within_group=True)
    with pytest.raises(SiamkitError):
        one_shot_accuracy(embeddings, labels, ways=3, within_group=True)  # no groups given


def test_single_image_identities_never_take_part():
    embeddings, labels = clustered(6, 2)
    embeddings = np.vstack([embeddings, np.zeros((3, 6))])
    labels = np.concatenate([labels, [100, 101, 102]])  # three lone images
    with pytest.raises(SiamkitError):
        one_shot_accuracy(embeddings, labels, ways=7)
    assert one_shot_accuracy(embeddings, labels, ways=6)["accuracy"] == 1.0


def test_triplet_accuracy_clustered_random_and_seeded():
    embeddings, labels = clustered(10, 3)
    assert triplet_accuracy(embeddings, labels, n=500) == 1.0
    noise, noise_labels = random_embeddings(10, 3)
    accuracy = triplet_accuracy(noise, noise_labels, n=2000, seed=2)
    assert 0.4 < accuracy < 0.6
    assert accuracy == triplet_accuracy(noise, noise_labels, n=2000, seed=2)


def test_collapsed_model_scores_chance_on_triplets():
    # Every image at one point: d(anchor, positive) == d(anchor, negative) in every triplet.
    # Ties are broken at random (seeded), as in one-shot and retrieval, so this is 0.5, not 0.
    labels = np.repeat(np.arange(10), 5)
    accuracy = triplet_accuracy(np.ones((50, 4)), labels, n=1000)
    assert 0.45 < accuracy < 0.55
    assert accuracy == triplet_accuracy(np.ones((50, 4)), labels, n=1000)


def test_k_shot_prototypes_beat_one_shot_on_noisy_identities():
    # Wide clusters: one support is a poor guess of the identity, the mean of five a good one.
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, 16))
    labels = np.repeat(np.arange(30), 8)
    embeddings = centres[labels] + rng.normal(scale=1.2, size=(240, 16))
    one = one_shot_accuracy(embeddings, labels, ways=10, episodes=400, seed=2)
    five = one_shot_accuracy(embeddings, labels, ways=10, episodes=400, seed=2, shots=5)
    assert five["shots"] == 5 and one["shots"] == 1
    assert five["accuracy"] > one["accuracy"] + 0.1


def test_k_shot_needs_k_plus_one_images_and_never_uses_the_query_as_support():
    # Exactly 6 images each: with 5 shots the query is the sixth image; if it were also a
    # support, random embeddings would score far above chance.
    embeddings, labels = random_embeddings(40, 6, seed=3)
    accuracy = one_shot_accuracy(embeddings, labels, ways=10, episodes=400, shots=5)["accuracy"]
    assert accuracy < 0.2
    with pytest.raises(SiamkitError, match="5-way 6-shot needs 5 identities with 7\\+ images"):
        one_shot_accuracy(embeddings, labels, ways=5, shots=6)
    with pytest.raises(SiamkitError, match="at least 1 shot"):
        one_shot_accuracy(embeddings, labels, ways=5, shots=0)
