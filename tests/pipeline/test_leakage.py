"""Leakage probes: operators that record which samples they were fit on, in every position
of a pipeline with a split, branches, sample augmentation, y_processing and stacking.

The spectra's first column is ``1000 + sample id`` (augmentation noise is far below 0.5), so
a probe placed where that column is still raw recovers the sample (or origin) id of every
row it sees. The targets are unique per sample, so a y probe does the same from y.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from nirs_core.data import SpectroDataset
from nirs_core.pipeline.executor import PreprocessingCache, execute, execute_batch
from nirs_core.pipeline.generators import expand

FITS: list[tuple[str, frozenset[int], int]] = []  # (tag, ids seen, rows seen)
Y_IDS: dict[float, int] = {}


class FitProbe(TransformerMixin, BaseEstimator):
    """Identity transformer that records the sample ids of the rows it is fit on."""

    def __init__(self, tag="probe"):
        self.tag = tag

    def fit(self, X, y=None):
        X = np.asarray(X)
        FITS.append((self.tag, frozenset(int(v) for v in np.rint(X[:, 0] - 1000)), X.shape[0]))
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return np.asarray(X, dtype=np.float64)


class YFitProbe(TransformerMixin, BaseEstimator):
    """Identity y transformer that records the samples of the targets it is fit on."""

    def __init__(self, tag="y"):
        self.tag = tag

    def fit(self, y, _=None):
        y = np.asarray(y).reshape(-1)
        FITS.append((self.tag, frozenset(Y_IDS[float(v)] for v in y), y.shape[0]))
        return self

    def transform(self, y):
        return np.asarray(y, dtype=np.float64)

    def inverse_transform(self, y):
        return np.asarray(y, dtype=np.float64)


PROBE = f"{__name__}.FitProbe"
YPROBE = f"{__name__}.YFitProbe"


@pytest.fixture(autouse=True)
def _allow_the_probes(monkeypatch):
    """Templates name the probes of this module by path: allow it as a user would."""
    monkeypatch.setenv("NIRS_ALLOWED_MODULES", __name__)


@pytest.fixture()
def probe_dataset():
    rng = np.random.default_rng(3)
    n, p = 48, 12
    X = rng.normal(size=(n, p))
    X[:, 0] = 1000 + np.arange(n)
    y = X[:, 1:4] @ np.array([1.0, -0.5, 0.25]) + 0.01 * np.arange(n)
    Y_IDS.clear()
    Y_IDS.update({float(v): i for i, v in enumerate(y)})
    part = np.array(["train"] * 36 + ["test"] * 12)
    FITS.clear()
    return SpectroDataset.from_arrays(X, y, partition=part), set(range(36)), set(range(36, 48))


def _op(cls, tag):
    return {"class": cls, "params": {"tag": tag}}


def _fold_sets(result):
    folds = {}
    for row in result.predictions:
        if row["fold"] >= 0:
            folds[row["fold"]] = set(row["sample"])
    return folds


def _assert_no_leak(result, cal, test, expected_tags):
    folds = _fold_sets(result)
    assert sorted(s for v in folds.values() for s in v) == sorted(cal)
    trains = [cal - val for val in folds.values()] + [cal]
    seen_tags = set()
    for tag, ids, _ in FITS:
        seen_tags.add(tag)
        assert not ids & test, f"{tag} was fit on test samples {sorted(ids & test)}"
        assert any(ids <= train for train in trains), f"{tag} was fit on samples outside every training set"
    assert expected_tags <= seen_tags


def test_no_validation_or_test_row_reaches_a_fit(probe_dataset):
    ds, cal, test = probe_dataset
    steps = [
        {
            "split": {
                "class": "sklearn.model_selection.KFold",
                "params": {"n_splits": 4, "shuffle": True, "random_state": 1},
            }
        },
        _op(PROBE, "top"),
        {"sample_augmentation": [[{"class": "GaussianNoise", "params": {"std": 0.01}}]], "count": 2},
        _op(PROBE, "after_augmentation"),
        {"y_processing": [_op(YPROBE, "y")]},
        {
            "branch": [
                [_op(PROBE, "branch0"), {"model": {"class": "PLS", "params": {"n_components": 3}}}],
                [
                    _op(PROBE, "branch1"),
                    "sklearn.preprocessing.StandardScaler",
                    {"model": {"class": "sklearn.linear_model.Ridge"}},
                ],
            ]
        },
    ]
    result = execute(steps, ds)
    _assert_no_leak(result, cal, test, {"top", "after_augmentation", "y", "branch0", "branch1"})
    folds = _fold_sets(result)
    for tag in ("top", "after_augmentation", "y", "branch0", "branch1"):
        fits = [(ids, n) for t, ids, n in FITS if t == tag]
        assert len(fits) == len(folds) + 1  # one fit per fold and the refit
        exact = sorted(sorted(ids) for ids, _ in fits)
        assert exact == sorted([sorted(cal - v) for v in folds.values()] + [sorted(cal)])
        if tag != "top":  # after augmentation: the two copies of each training row are in the fit
            assert all(n == 3 * len(ids) for ids, n in fits)


def test_no_leak_through_stacking_inner_folds(probe_dataset):
    ds, cal, test = probe_dataset
    steps = [
        {"split": {"class": "sklearn.model_selection.KFold", "params": {"n_splits": 3}}},
        {"y_processing": [_op(YPROBE, "y")]},
        {
            "branch": [
                [_op(PROBE, "b0"), {"model": {"class": "PLS", "params": {"n_components": 2}}}],
                [_op(PROBE, "b1"), {"model": {"class": "PLS", "params": {"n_components": 4}}}],
            ]
        },
        {"merge": "predictions", "inner_folds": 3},
        {"model": {"class": "sklearn.linear_model.LinearRegression"}},
    ]
    result = execute(steps, ds)
    _assert_no_leak(result, cal, test, {"y", "b0", "b1"})
    # 4 outer contexts × (1 outer fit + 3 inner fits) per branch probe; only the refit sees
    # every calibration sample, and the inner fits of a fold stay inside its training set
    for tag in ("b0", "b1"):
        fits = [ids for t, ids, _ in FITS if t == tag]
        assert len(fits) == 4 * 4
        assert sum(ids == cal for ids in fits) == 1
    assert sum(ids == cal for t, ids, _ in FITS if t == "y") == 1
    assert result.info["best_model"].endswith("LinearRegression")


def test_prefix_reuse_and_stateless_once_per_dataset(probe_dataset):
    ds, _, _ = probe_dataset
    template = [
        {"split": {"class": "sklearn.model_selection.KFold", "params": {"n_splits": 4}}},
        _op(PROBE, "shared"),
        {"_or_": ["SNV", "MSC"]},
        {
            "model": {"class": "PLS", "params": {"scale": False}},
            "param": "n_components",
            "_range_": [1, 5, 2],
        },
    ]
    configs = expand(template)
    cache = PreprocessingCache()
    results = execute_batch(configs, ds, cache=cache)
    assert len(results) == 6
    # the shared stateful prefix is fit once per context (4 folds + refit), not once per config
    assert sum(1 for t, _, _ in FITS if t == "shared") == 5
    assert cache.hits > 0
    # a stateless operator on raw spectra is computed once for the dataset, not per fold
    FITS.clear()
    stateless_first = [
        {"split": {"class": "sklearn.model_selection.KFold", "params": {"n_splits": 4}}},
        "SNV",
        _op(PROBE, "after_snv"),
        {"model": {"class": "PLS", "params": {"n_components": 2}}},
    ]
    result = execute(stateless_first, ds, cache=PreprocessingCache())
    assert result.info["fits"] == 1 + 5 + 5  # SNV once; the probe and the model per context
    # a tiny cache still gives the same scores and stays under its bound
    small = PreprocessingCache(max_bytes=20_000)
    again = execute_batch(configs, ds, cache=small)
    assert [r.cv_score for r in again] == [r.cv_score for r in results]
    assert small.peak_bytes <= 20_000


def test_dataset_augmented_rows_follow_their_origin(probe_dataset):
    ds, cal, test = probe_dataset
    parents = np.arange(0, 36, 3)
    X_new = ds.x(parents)[0] + 0.01
    new_ids = ds.augment_samples(X_new, parents)
    steps = [
        {"split": {"class": "sklearn.model_selection.KFold", "params": {"n_splits": 3}}},
        _op(PROBE, "p"),
        {"model": {"class": "PLS", "params": {"n_components": 2}}},
    ]
    result = execute(steps, ds)
    _assert_no_leak(result, cal, test, {"p"})
    predicted = {s for r in result.predictions for s in r["sample"]}
    assert not predicted & set(new_ids.tolist())  # augmented rows are never validated nor reported
    folds = _fold_sets(result)
    for _, ids, n in FITS[:-1]:
        k = next(k for k, v in folds.items() if ids == cal - v)
        assert n == len(ids) + sum(1 for p in parents if p not in folds[k])
    assert result.n_train == 36
