"""The applicability domain (Hotelling T², Q residual, leverage) and the conformal prediction
interval: the kernel against slow references, the limits against their formulas, false-alarm
rates on the corpus's calibration sets, instruments 2 and 3 of the corn set flagged by an
instrument-1 model, calibration transfer bringing them back, the interval against MAPIE."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path
from scipy import stats
from sklearn.model_selection import KFold

from nirs_core.app.predict import predict
from nirs_core.app.transfer import transfer_bundle
from nirs_core.data import SpectroDataset
from nirs_core.errors import ConfigError, DataError
from nirs_core.models._domain_kernels import domain_statistics
from nirs_core.models.domain import fit_domain, hotelling_limit, q_limit
from nirs_core.models.pcr import PrincipalComponentRegression
from nirs_core.models.pls import PLSRegression
from nirs_core.operators.baseline import LinearBaselineCorrection
from nirs_core.operators.derivatives import SavitzkyGolay
from nirs_core.operators.wavelength import CropWavelengths
from nirs_core.pipeline.executor import execute
from nirs_core.store.bundle import open_bundle, write_bundle

KFOLD = {
    "class": "sklearn.model_selection.KFold",
    "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
}


@pytest.fixture(scope="module")
def instruments():
    root = shared_path("corn_instruments")
    X = [np.loadtxt(root / f"X_inst{i}.csv", delimiter=",", skiprows=1, ndmin=2) for i in (1, 2, 3)]
    sets = np.loadtxt(root / "y.csv", delimiter=",", skiprows=1, usecols=0, dtype=str)
    y = np.loadtxt(root / "y.csv", delimiter=",", skiprows=1, usecols=1)
    return X, y, sets


@pytest.fixture(scope="module")
def instrument1_bundle(instruments, tmp_path_factory):
    """The best PLS (2–12 latent variables by RMSECV) on instrument 1's 30 calibration spectra."""
    X, y, sets = instruments
    part = np.where(sets == "cal", "train", sets)  # 'trans' rows are ignored by the executor
    ds = SpectroDataset.from_arrays(
        X[0],
        y,
        name="corn1",
        wavelengths=np.arange(1100, 2500, 2.0),
        units="nm",
        partition=part,
        target_names=["oil"],
    )
    results = [
        execute([{"split": KFOLD}, {"model": {"class": "PLS", "params": {"n_components": a}}}], ds)
        for a in range(2, 13, 2)
    ]
    best = min(results, key=lambda r: r.cv_score)
    path = write_bundle(best, tmp_path_factory.mktemp("dom") / "inst1.zip", sign=False, dataset=ds)
    return path, best


def _slow_statistics(X, mean, scale, R, P, s2, n):
    out = []
    for x in X:
        xs = [(x[j] - mean[j]) / scale[j] for j in range(len(x))]
        t = [sum(xs[j] * R[j, a] for j in range(len(x))) for a in range(R.shape[1])]
        e = [xs[j] - sum(t[a] * P[j, a] for a in range(R.shape[1])) for j in range(len(x))]
        t2 = sum(t[a] ** 2 / s2[a] for a in range(len(t)))
        out.append((t2, sum(v * v for v in e), t2))
    return out


def test_kernel_equals_a_slow_loop_and_leverage_the_hat_matrix(corn_arrays):
    Xc, yc, Xv = corn_arrays["Xcal"], corn_arrays["ycal"], corn_arrays["Xval"]
    est = PLSRegression(5, scale=True).fit(Xc, yc)
    state, meta = fit_domain(est, Xc)
    got = domain_statistics(Xv, **state)
    ref = _slow_statistics(
        Xv[:, ::1], est.x_mean_, est.x_std_, est.x_rotations_, est.x_loadings_, state["score_variance"], 60
    )
    np.testing.assert_allclose(got[:, 0], [r[0] for r in ref], rtol=1e-9)
    np.testing.assert_allclose(got[:, 1], [r[1] for r in ref], rtol=1e-9)
    # the calibration scores' variance is their sample variance; leverage is the diagonal of
    # the hat matrix of [1, T] on the calibration rows
    T = ((Xc - est.x_mean_) / est.x_std_) @ est.x_rotations_
    np.testing.assert_allclose(state["score_variance"], np.var(T, axis=0, ddof=1), rtol=1e-12)
    Z = np.column_stack([np.ones(60), T])
    hat = np.diag(Z @ np.linalg.solve(Z.T @ Z, Z.T))
    np.testing.assert_allclose(domain_statistics(Xc, **state)[:, 2], hat, rtol=1e-9)
    assert meta["leverage_limit"] == pytest.approx(3 * 6 / 60)


def test_pcr_and_models_without_scores_get_principal_components(corn_arrays):
    from sklearn.ensemble import RandomForestRegressor

    Xc, yc = corn_arrays["Xcal"], corn_arrays["ycal"]
    pcr = PrincipalComponentRegression(4).fit(Xc, yc)
    state, meta = fit_domain(pcr, Xc)
    T = (Xc - Xc.mean(axis=0)) @ pcr.components_.T
    np.testing.assert_allclose(
        domain_statistics(Xc, **state)[:, 1],
        ((Xc - Xc.mean(0) - T @ pcr.components_) ** 2).sum(1),
        rtol=1e-8,
        atol=1e-14,
    )
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(Xc, yc)
    state, meta = fit_domain(forest, Xc)
    s = np.linalg.svd(Xc - Xc.mean(axis=0), compute_uv=False)
    explained = np.cumsum(s**2) / np.sum(s**2)
    a = meta["n_components"]
    assert (
        meta["scores"].startswith("PCA") and explained[a - 1] >= 0.99 and (a == 1 or explained[a - 2] < 0.99)
    )


def test_limits_equal_their_formulas(corn_arrays):
    n, a = 60, 5
    expected = a * (n - 1) * (n + 1) / (n * (n - a)) * stats.f.ppf(0.95, a, n - a)
    assert hotelling_limit(n, a) == pytest.approx(expected, rel=1e-12)
    q = np.random.default_rng(0).chisquare(3, size=200) * 0.01
    m, v = q.mean(), q.var(ddof=1)
    assert q_limit(q) == pytest.approx(v / (2 * m) * stats.chi2.ppf(0.95, 2 * m * m / v), rel=1e-12)
    # one dominant residual direction: Q is a scaled chi²(1); Box's limit stays its 95 % quantile
    one = 0.2 * np.random.default_rng(1).standard_normal(20000) ** 2
    assert q_limit(one) == pytest.approx(0.2 * stats.chi2.ppf(0.95, 1), rel=0.05)
    assert np.mean(one > q_limit(one)) == pytest.approx(0.05, abs=0.01)


def _false_alarms(X, y, model):
    """(in-sample rate, held-out rate): the calibration rows against the domain fitted on them,
    and each row against the domain of a 5-fold CV fit without it."""
    state, meta = fit_domain(model(X, y), X)
    s = domain_statistics(X, **state)
    inside = np.mean((s[:, 0] > meta["t2_limit"]) | (s[:, 1] > meta["q_limit"]))
    flags = np.zeros(len(y), bool)
    for tr, va in KFold(5, shuffle=True, random_state=0).split(X):
        st, me = fit_domain(model(X[tr], y[tr]), X[tr])
        s = domain_statistics(X[va], **st)
        flags[va] = (s[:, 0] > me["t2_limit"]) | (s[:, 1] > me["q_limit"])
    return inside, flags.mean()


def test_false_alarm_rates_on_real_calibration_sets_are_near_five_percent(corn_arrays):
    rates = {}
    rates["corn"] = _false_alarms(
        corn_arrays["Xcal"], corn_arrays["ycal"], lambda X, y: PLSRegression(6).fit(X, y)
    )
    root = shared_path("fermentation")
    F = np.loadtxt(root / "X_train.csv", delimiter=",", skiprows=1)
    axis = np.array([float(v) for v in (root / "X_train.csv").read_text().splitlines()[0].split(",")])
    g = np.loadtxt(root / "y_train.csv", delimiter=",", skiprows=1)
    crop = CropWavelengths(start=950, stop=1500).fit(F, wavelengths=axis)
    F = crop.transform(F)
    F = LinearBaselineCorrection().fit(F, wavelengths=crop.wavelengths_out_).transform(F)
    F = SavitzkyGolay(window_length=15, polyorder=2, deriv=1).fit(F).transform(F)
    rates["fermentation"] = _false_alarms(F, g, lambda X, y: PLSRegression(6).fit(X, y))
    pectin = np.loadtxt(shared_path("pectin", "pectin.csv"), delimiter=",", skiprows=1)
    rates["pectin"] = _false_alarms(
        pectin[:, 2:], pectin[:, 1], lambda X, y: PLSRegression(3, scale=True).fit(X, y)
    )
    # measured: corn 5 % / 18 %, fermentation 0 % / 0 %, pectin 3 % / 16 % (T² or Q: two
    # 5 % limits, so up to ~10 % for a held-out row that is like the calibration set)
    for name, (inside, held_out) in rates.items():
        assert inside <= 0.10, (name, rates)
        assert held_out <= 0.20, (name, rates)
    pooled = np.mean([r[0] for r in rates.values()])
    assert 0.0 < pooled <= 0.08, rates


def test_an_instrument1_model_flags_instruments_2_and_3(instruments, instrument1_bundle):
    X, y, sets = instruments
    path, best = instrument1_bundle
    own = predict(path, X[0], trust_unsigned=True)
    assert list(own.columns) == [
        "oil",
        "oil_lower",
        "oil_upper",
        "t2",
        "t2_limit",
        "q",
        "q_limit",
        "leverage",
        "in_domain",
    ]
    out = {i: 1 - predict(path, X[i], trust_unsigned=True)["in_domain"].to_numpy() for i in range(3)}
    assert out[0][sets == "cal"].mean() <= 0.10  # calibration: near the nominal 5 %
    assert out[0][sets == "test"].mean() <= 0.15  # its own test set: few
    assert out[1].mean() >= 0.9 and out[2].mean() >= 0.9  # other instruments: most
    # replay is unchanged: the table's values are the bare predictions, bit for bit
    values = predict(path, X[0][sets == "test"], trust_unsigned=True, values_only=True)
    table = predict(path, X[0][sets == "test"], trust_unsigned=True)
    assert np.array_equal(table["oil"].to_numpy(), values[:, 0])
    row = next(r for r in best.predictions if r["fold"] == -1 and r["partition"] == "test")
    assert np.array_equal(values[:, 0], np.asarray(row["y_pred"]))  # bit for bit
    # the 90 % interval covers about 90 % of the test references
    te = sets == "test"
    covered = (own["oil_lower"].to_numpy()[te] <= y[te]) & (y[te] <= own["oil_upper"].to_numpy()[te])
    assert 0.75 <= covered.mean() <= 1.0


def test_the_interval_equals_mapie_cross_conformal_base(instruments, instrument1_bundle):
    from mapie.regression import CrossConformalRegressor
    from sklearn.cross_decomposition import PLSRegression as SkPLS

    X, y, sets = instruments
    path, best = instrument1_bundle
    a = best.config[-1]["model"]["params"]["n_components"]
    cal = sets == "cal"
    cv = KFold(5, shuffle=True, random_state=0)
    for coverage in (0.8, 0.9):
        mapie = CrossConformalRegressor(
            SkPLS(a, scale=False), confidence_level=coverage, method="base", cv=cv
        )
        mapie.fit_conformalize(X[0][cal], y[cal])
        _, bounds = mapie.predict_interval(X[0][sets == "test"])
        table = predict(path, X[0][sets == "test"], trust_unsigned=True, coverage=coverage)
        half = (table["oil_upper"] - table["oil_lower"]).to_numpy() / 2
        np.testing.assert_allclose(half, (bounds[:, 1, 0] - bounds[:, 0, 0]) / 2, rtol=1e-7)


@pytest.mark.parametrize(
    ("method", "params", "back"), [("PDS", {"half_width": 2}, 0.7), ("DS", {"rank": 10}, 0.9)]
)
def test_a_transferred_bundle_puts_instrument_2_back_in_the_domain(
    instruments, instrument1_bundle, tmp_path, method, params, back
):
    X, y, sets = instruments
    path, _ = instrument1_bundle
    tr, te = sets == "trans", sets == "test"
    moved = transfer_bundle(
        path,
        X[1][tr],
        X[0][tr],
        tmp_path / "t.zip",
        method=method,
        params=params,
        trust_unsigned=True,
        sign=False,
    )
    before = predict(path, X[1][te], trust_unsigned=True)
    after = predict(moved, X[1][te], trust_unsigned=True)
    assert before["in_domain"].mean() <= 0.1 and after["in_domain"].mean() >= back
    rmse = lambda t: float(np.sqrt(np.mean((t["oil"].to_numpy() - y[te]) ** 2)))  # noqa: E731
    assert rmse(after) < rmse(before) / 2


def test_bad_input_gets_one_clear_error(corn_arrays, instrument1_bundle, instruments, tmp_path):
    Xc, yc = corn_arrays["Xcal"], corn_arrays["ycal"]
    with pytest.raises(ConfigError, match="needs 0 < components < samples; got 5 and 5"):
        hotelling_limit(5, 5)
    with pytest.raises(ConfigError, match="at least 3 calibration rows; got 2"):
        fit_domain(PLSRegression(1).fit(Xc[:2], yc[:2]), Xc[:2])

    class Wide:  # as many latent variables as calibration rows
        x_rotations_ = x_loadings_ = np.eye(700)[:, :4]
        x_mean_ = np.zeros(700)

    with pytest.raises(ConfigError, match="4 components on 4 calibration rows"):
        fit_domain(Wide(), Xc[:4])
    path, _ = instrument1_bundle
    X, _, _ = instruments
    with pytest.raises(ConfigError, match=r"method must be one of \['DS', 'PDS'\]; got 'OSC'"):
        transfer_bundle(path, X[1][:5], X[0][:5], tmp_path / "t.zip", method="OSC", trust_unsigned=True)
    with pytest.raises(DataError, match=r"one shape \(n, 700\); got \(5, 700\) and \(4, 700\)"):
        transfer_bundle(path, X[1][:5], X[0][:4], tmp_path / "t.zip", trust_unsigned=True)


def test_a_transfer_maps_one_source(tmp_path):
    rng = np.random.default_rng(0)
    X1, X2 = rng.normal(size=(30, 12)), rng.normal(size=(30, 8))
    ds = SpectroDataset.from_arrays([X1, X2], X1[:, 0] + X2[:, 1], source_names=["nir", "mir"])
    result = execute([{"split": KFOLD}, {"model": {"class": "PLS", "params": {"n_components": 2}}}], ds)
    path = write_bundle(result, tmp_path / "two.zip", sign=False, dataset=ds)
    with pytest.raises(ConfigError, match="has 2 input nodes; a transfer maps one source"):
        transfer_bundle(
            path, X1[:5], X1[:5], tmp_path / "t.zip", trust_unsigned=True, sign=False, method="DS"
        )


def test_a_stacked_ensemble_gets_the_domain_of_its_input_spectra(instruments, tmp_path):
    X, y, sets = instruments
    part = np.where(sets == "cal", "train", sets)
    ds = SpectroDataset.from_arrays(
        X[0], y, wavelengths=np.arange(1100, 2500, 2.0), units="nm", partition=part
    )
    steps = [
        {"split": KFOLD},
        {
            "branch": [
                [{"model": {"class": "PLS", "params": {"n_components": 6}}}],
                [
                    {
                        "model": {
                            "class": "sklearn.ensemble.RandomForestRegressor",
                            "params": {"n_estimators": 20, "random_state": 0},
                        }
                    }
                ],
            ]
        },
        {"stack": {"class": "sklearn.linear_model.LinearRegression"}, "name": "meta"},
    ]
    result = execute(steps, ds)
    assert result.info["best_model"] == "meta" and result.info["domain"]["scores"].startswith("PCA")
    path = write_bundle(result, tmp_path / "stack.zip", sign=False, dataset=ds)
    trust = {"trust_unsigned": True, "allow_pickle": True}  # our own unsigned forest
    own = predict(path, X[0][sets == "test"], **trust)["in_domain"].to_numpy()
    other = predict(path, X[1], **trust)["in_domain"].to_numpy()
    assert own.mean() >= 0.8 and other.mean() <= 0.1


def test_cli_predict_writes_the_domain_columns_on_numpy_alone(instruments, instrument1_bundle, tmp_path):
    import subprocess
    import sys

    X, _, sets = instruments
    path, _ = instrument1_bundle
    spectra = tmp_path / "inst2.csv"
    rows = [",".join(f"{w:g}" for w in np.arange(1100, 2500, 2.0))]
    rows += [",".join(repr(float(v)) for v in x) for x in X[1][sets == "test"]]
    spectra.write_text("\n".join(rows) + "\n")
    out = tmp_path / "p.csv"
    code = (
        "import sys\nfrom nirs_core.cli import main\n"
        f"code = main(['predict', {str(path)!r}, {str(spectra)!r}, '-o', {str(out)!r}, '--trust-unsigned'])\n"
        "bad = [m for m in ('sklearn', 'polars', 'matplotlib', 'scipy') if m in sys.modules]\n"
        "assert code == 0 and not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    header, *lines = out.read_text().splitlines()
    assert header == "oil,oil_lower,oil_upper,t2,t2_limit,q,q_limit,leverage,in_domain"
    table = predict(path, X[1][sets == "test"], trust_unsigned=True)
    assert [line.split(",")[-1] for line in lines] == [str(v) for v in table["in_domain"].to_list()]
    assert np.array_equal([float(line.split(",")[3]) for line in lines], table["t2"].to_numpy())


def test_nirs_transfer_writes_the_transferred_bundle(instruments, instrument1_bundle, tmp_path, capsys):
    from nirs_core.cli import main

    X, _, sets = instruments
    path, _ = instrument1_bundle
    header = ",".join(f"{w:g}" for w in np.arange(1100, 2500, 2.0))
    files = {}
    for name, i in (("slave", 1), ("master", 0)):
        files[name] = tmp_path / f"{name}.csv"
        rows = [",".join(repr(float(v)) for v in x) for x in X[i][sets == "trans"]]
        files[name].write_text("\n".join([header, *rows]) + "\n")
    out = tmp_path / "moved.zip"
    argv = ["transfer", str(path), "--slave", str(files["slave"]), "--master", str(files["master"])]
    assert (
        main([*argv, "-o", str(out), "--method", "DS", "--rank", "10", "--unsigned", "--trust-unsigned"]) == 0
    )
    assert "DS fitted on 30 transfer sample(s)" in capsys.readouterr().out
    moved = predict(out, X[1][sets == "test"], trust_unsigned=True)
    assert moved["in_domain"].mean() >= 0.9
    info = open_bundle(out, trust_unsigned=True).info
    assert info["transfer"] == {
        "method": "DS",
        "params": {"center": True, "rank": 10, "rcond": 1e-10},
        "n_transfer": 30,
    }


def test_scikit_learn_pls_gets_its_own_scores(corn_arrays):
    from sklearn.cross_decomposition import PLSRegression as SkPLS

    Xc, yc, Xv = corn_arrays["Xcal"], corn_arrays["ycal"], corn_arrays["Xval"]
    theirs = SkPLS(5).fit(Xc, yc)  # scale=True: their _x_std is used
    state, meta = fit_domain(theirs, Xc)
    assert meta["scores"] == "PLSRegression scores (5 latent variables)"
    T = theirs.transform(Xv)  # scikit-learn's own scores of new spectra
    s2 = np.var(theirs.transform(Xc), axis=0, ddof=1)
    np.testing.assert_allclose(domain_statistics(Xv, **state)[:, 0], (T**2 / s2).sum(axis=1), rtol=1e-9)
