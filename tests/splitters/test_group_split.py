"""GroupKFoldSplit: groups stay whole, folds are balanced, shuffling is seeded."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import cross_val_predict

from nirs_core.errors import ConfigError, DataError
from nirs_core.registry import resolve
from nirs_core.splitters.group import GroupKFoldSplit


@pytest.fixture(scope="module")
def pectin(shared_data):
    data = np.loadtxt(shared_data / "pectin" / "pectin.csv", delimiter=",", skiprows=1, ndmin=2)
    return data[:, 2:], data[:, 1], data[:, 0]


def test_pectin_extractions_stay_in_one_fold(pectin):
    X, y, groups = pectin
    splitter = GroupKFoldSplit(n_splits=3)
    seen = []
    for train, test in splitter.split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])
        assert len(set(groups[test])) == 1
        seen.append(test)
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(len(y)))
    pred = cross_val_predict(PLSRegression(3), X, y, groups=groups, cv=splitter)
    assert pred.shape == (len(y),)


def test_origins_of_augmented_rows_stay_together():
    origin = np.repeat(np.arange(20), 3)  # three augmented copies per origin
    fold = GroupKFoldSplit(n_splits=4).fold_of(np.zeros((60, 2)), groups=origin)
    for o in range(20):
        assert len(set(fold[origin == o])) == 1
    assert np.bincount(fold).tolist() == [15, 15, 15, 15]
    assert resolve("OriginKFold") is GroupKFoldSplit


def test_greedy_balance_matches_hand_computed_assignment():
    # sizes: a=5, b=3, c=3, d=2, e=1 → a→0, b→1, c→2, d→1 (load 3 vs 3: lowest fold… 1), e→2
    groups = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 2 + ["e"])
    fold = GroupKFoldSplit(n_splits=3).fold_of(np.zeros((14, 1)), groups=groups)
    by_group = {g: int(fold[groups == g][0]) for g in "abcde"}
    assert by_group == {"a": 0, "b": 1, "c": 2, "d": 1, "e": 2}


def test_no_groups_is_balanced_k_fold():
    splits = list(GroupKFoldSplit(n_splits=4).split(np.zeros((10, 1))))
    assert [len(t) for _, t in splits] == [3, 3, 2, 2]
    np.testing.assert_array_equal(splits[1][1], [1, 5, 9])
    assert GroupKFoldSplit(n_splits=4).get_n_splits() == 4


def test_shuffle_is_seeded():
    X = np.zeros((40, 1))
    groups = np.repeat(np.arange(10), 4)
    a = GroupKFoldSplit(5, shuffle=True, random_state=1).fold_of(X, groups=groups)
    b = GroupKFoldSplit(5, shuffle=True, random_state=1).fold_of(X, groups=groups)
    c = GroupKFoldSplit(5, shuffle=True, random_state=2).fold_of(X, groups=groups)
    plain = GroupKFoldSplit(5).fold_of(X, groups=groups)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, plain)
    assert np.bincount(a).tolist() == [8] * 5
    assert "shuffle=True" in repr(GroupKFoldSplit(5, shuffle=True, random_state=1))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_splits": 1}, r"GroupKFoldSplit: n_splits must be an integer ≥ 2; got 1"),
        ({"shuffle": "yes"}, r"GroupKFoldSplit: shuffle must be True or False; got 'yes'"),
        ({"random_state": 3}, r"random_state has no effect with shuffle=False; got random_state=3"),
    ],
)
def test_config_errors(params, match):
    with pytest.raises(ConfigError, match=match):
        next(GroupKFoldSplit(**params).split(np.zeros((6, 1))))


def test_data_errors():
    with pytest.raises(
        DataError, match=r"groups must be 1-D with one label per sample \(6\); got shape \(5,\)"
    ):
        next(GroupKFoldSplit(2).split(np.zeros((6, 1)), groups=np.arange(5)))
    with pytest.raises(DataError, match=r"n_splits=3 exceeds the number of groups \(2\)"):
        next(GroupKFoldSplit(3).split(np.zeros((6, 1)), groups=[0, 0, 0, 1, 1, 1]))
