"""PLS-DA on the coffee spectra (three origins) and against scikit-learn PLS on one-hot y."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path
from sklearn.cross_decomposition import PLSRegression as SklearnPLS
from sklearn.model_selection import train_test_split

import nirs_core.models._kernels as _kernels
from nirs_core.errors import DataError
from nirs_core.models.plsda import PLSDiscriminantAnalysis
from nirs_core.registry import resolve


@pytest.fixture(scope="module")
def coffee():
    """../shared/data/coffee/coffee.csv read with numpy: label column 'origin', then 1841 channels."""
    path = shared_path("coffee", "coffee.csv")
    labels = np.loadtxt(path, delimiter=",", skiprows=1, usecols=0, dtype=str)
    with path.open() as fh:
        header = fh.readline().strip().split(",")
    X = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(1, len(header)))
    assert X.shape == (60, 1841)
    return X, labels


def test_aliases():
    assert resolve("PLSDA") is PLSDiscriminantAnalysis
    assert resolve("PLS-DA") is PLSDiscriminantAnalysis


def test_coffee_origins_are_separated_perfectly(coffee):
    """SOURCES.md: PLS-DA separates the three origins (accuracy 1.0 on a 48/12 split)."""
    X, labels = coffee
    Xc, Xt, yc, yt = train_test_split(X, labels, test_size=12, stratify=labels, random_state=0)
    model = PLSDiscriminantAnalysis(5).fit(Xc, yc)
    assert list(model.classes_) == ["Brasil", "Ethiopia", "Vietnam"]
    assert model.score(Xt, yt) == 1.0
    proba = model.predict_proba(Xt)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(proba >= 0)
    np.testing.assert_array_equal(model.classes_[np.argmax(proba, axis=1)], model.predict(Xt))


def test_decision_equals_sklearn_pls_on_one_hot(coffee):
    X, labels = coffee
    model = PLSDiscriminantAnalysis(4).fit(X, labels)
    Y = (labels[:, None] == model.classes_[None, :]).astype(float)
    ref = SklearnPLS(4, scale=False, tol=1e-30, max_iter=100_000).fit(X, Y)
    np.testing.assert_allclose(model.decision_function(X), ref.predict(X), rtol=0, atol=1e-9)
    target, kwargs = model.replay_spec()
    assert target == "nirs_core.models._kernels:plsda_predict"
    np.testing.assert_array_equal(_kernels.plsda_predict(X, **kwargs), model.predict(X))


def test_binary_decision_is_one_column(coffee):
    X, labels = coffee
    keep = labels != "Vietnam"
    model = PLSDiscriminantAnalysis(3).fit(X[keep], labels[keep])
    decision = model.decision_function(X[keep])
    assert decision.shape == (40,)
    np.testing.assert_array_equal(model.classes_[(decision > 0).astype(int)], model.predict(X[keep]))


def test_clipped_normalised_scores():
    decision = np.array([[0.8, 0.4, -0.2], [-0.3, -0.1, -0.5], [2.0, 0.0, 0.0]])
    np.testing.assert_allclose(
        _kernels.plsda_proba(decision), [[2 / 3, 1 / 3, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    )


def test_one_class_is_refused(coffee):
    X, labels = coffee
    keep = labels == "Brasil"
    with pytest.raises(DataError, match=r"y must hold at least 2 classes; got 1 class \('Brasil'\)"):
        PLSDiscriminantAnalysis(2).fit(X[keep], labels[keep])
