"""Reference scores: the shipped file covers what the benchmark and the meta-test use, its entries reproduce,
and ``normalized_score`` puts random at 0 and the planning oracle at 1."""

import warnings

import numpy as np
import pytest

import recsim_meta
from recsim_meta import Task, make_splits, normalized_score
from recsim_meta.envs import MULTI_DOMAIN_ID
from recsim_meta.evaluation.references import (
    POLICIES,
    compute_reference,
    reference,
    reference_key,
    reference_table,
    shipped_references,
    standard_keys,
)


def test_the_shipped_file_holds_every_standard_key_with_all_four_policies():
    shipped = shipped_references()
    for key in standard_keys():
        assert key in shipped, key
        entry = shipped[key]
        assert set(entry.scores) == set(POLICIES)
        for mean, low, high in entry.scores.values():
            assert low <= mean <= high
        assert entry.episodes >= 200


def test_the_meta_tests_and_benchmarks_tasks_are_shipped():
    splits = make_splits(recsim_meta.DOMAINS, held_out_domain="video")
    for task in (*splits.test_cohorts, *splits.test_domain, *splits.validation):
        assert reference_key(task) in shipped_references()
        assert reference_key(task, {"slate_size": 1}) in shipped_references()


@pytest.mark.parametrize(
    "key",
    [
        reference_key("recsim_meta/Video-v0"),
        reference_key("recsim_meta/VideoInterestEvolution-v0"),
        reference_key(recsim_meta.sample_tasks("game", 10, 0)[8]),
        reference_key(recsim_meta.sample_tasks("finance", 10, 0)[2], {"slate_size": 1}),
    ],
)
def test_shipped_entries_reproduce_within_their_intervals(key):
    shipped, again = shipped_references()[key], compute_reference(*key)
    assert again.price == pytest.approx(shipped.price, rel=1e-9)
    for name, (_, low, high) in shipped.scores.items():
        assert low <= again.scores[name][0] <= high, (name, again.scores[name], shipped.scores[name])


def test_normalized_score_puts_random_at_0_and_planning_at_1():
    scores = reference("recsim_meta/News-v0").scores
    random, planning = scores["random"][0], scores["planning"][0]
    assert normalized_score("recsim_meta/News-v0", random) == pytest.approx(0.0)
    assert normalized_score("recsim_meta/News-v0", planning) == pytest.approx(1.0)
    np.testing.assert_allclose(normalized_score("recsim_meta/News-v0", np.array([random, planning])), [0.0, 1.0])


def test_a_task_is_scored_in_the_multi_domain_layout():
    task = make_splits(recsim_meta.DOMAINS, held_out_domain="video").test_domain[0]
    assert reference(task) is shipped_references()[(MULTI_DOMAIN_ID, task, ())]
    assert reference(task, {"slate_size": 1}).scores != reference(task).scores


def test_multi_domain_default_is_the_mean_over_its_training_tasks():
    tasks = make_splits(recsim_meta.DOMAINS).train
    expected = np.mean([reference(task).scores["planning"][0] for task in tasks])
    assert reference(MULTI_DOMAIN_ID).scores["planning"][0] == pytest.approx(expected)
    assert reference(MULTI_DOMAIN_ID).price is None


def test_a_key_not_shipped_is_computed_with_a_warning():
    task = Task("news", cohort=77, cohort_seed=77)
    with pytest.warns(UserWarning, match="computing them now"):
        first = reference(task)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reference(task) is first  # kept for the process


@pytest.mark.parametrize("bad", ["recsim_meta/Nope-v0", 3, None])
def test_bad_keys_name_what_is_accepted(bad):
    with pytest.raises(ValueError, match="env id"):
        normalized_score(bad, 1.0)


def test_a_task_of_another_domain_is_refused_in_a_single_domain_env():
    with pytest.raises(ValueError, match="does not run in"):
        reference_key(("recsim_meta/News-v0", Task("video")))


def test_reference_table_has_a_row_per_env_id():
    table = reference_table()
    for env_id in recsim_meta.ENV_IDS:
        assert f"`{env_id}`" in table
