"""nirs_core.app.predict.predict_table, the one function the service answers from: the values
equal the replay of the same spectra, the interval and domain fields are replay_table's, and
the axis of an array input is checked (or resampled)."""

from __future__ import annotations

import numpy as np
import pytest
from registry_fixtures import KEY

from nirs_core.app.models import open_version
from nirs_core.app.predict import predict_table
from nirs_core.errors import DataError
from nirs_core.graph.replay import prepare_input, replay, replay_table


def test_predict_table_with_an_axis(corn_registry, corn_arrays):
    _, bundle = open_version(corn_registry["workspace"], "corn", key=KEY)
    X, axis = corn_arrays["Xval"], corn_arrays["wavelengths"]
    table = predict_table(bundle, X, wavelengths=axis)
    assert np.array_equal(table["values"], replay(bundle, prepare_input(bundle, X).sources))
    assert table["targets"] == ["oil"] and not table["resampled"]
    columns = replay_table(bundle, prepare_input(bundle, X).sources)
    assert np.array_equal(table["lower"][:, 0], columns["oil_lower"])
    assert np.array_equal(table["upper"][:, 0], columns["oil_upper"])
    for field in ("t2", "q", "in_domain"):
        assert np.array_equal(table[field], columns[field])
    # the same spectra on a denser axis, resampled back onto the training axis by np.interp
    fine = np.linspace(axis[0], axis[-1], 2 * axis.size - 1)
    X_fine = np.array([np.interp(fine, axis, row) for row in X])
    resampled = predict_table(bundle, X_fine, wavelengths=fine, resample=True)
    assert resampled["resampled"]
    back = np.array([np.interp(axis, fine, row) for row in X_fine])
    expected = replay(bundle, prepare_input(bundle, back).sources)
    assert np.array_equal(resampled["values"], expected)
    with pytest.raises(DataError, match=r"wavelengths are accepted with one array of spectra .* got list"):
        predict_table(bundle, [X], wavelengths=axis)
    with pytest.raises(DataError, match=r"expected one wavelength per spectrum column; got 3 wavelengths"):
        predict_table(bundle, X, wavelengths=axis[:3])
