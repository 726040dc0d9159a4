"""The numbers do not depend on the number of BLAS threads: a Dask worker (one thread, set by its
nanny) must give the scores of an in-process run (as many threads as cores). OpenBLAS splits a
product by a thin matrix differently with another thread count, which changed Detrend's last
bits; each kernel here is compared with itself under 1 and 2 threads, and with a slow loop."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from nirs_core.operators import _kernels


@pytest.fixture(scope="module")
def spectra(corn_arrays):
    # corn's calibration spectra repeated to a size where OpenBLAS does use its threads
    return np.tile(corn_arrays["Xcal"], (20, 1))


def test_detrend_is_the_same_with_one_and_two_blas_threads(spectra):
    with threadpool_limits(limits=1, user_api="blas"):
        one = _kernels.detrend(spectra, order=2)
    with threadpool_limits(limits=2, user_api="blas"):
        two = _kernels.detrend(spectra, order=2)
    assert np.array_equal(one, two)
    # and it is the least-squares residual of a degree-2 polynomial, row by row (numpy.polyfit)
    t = np.linspace(-1.0, 1.0, spectra.shape[1])
    for row in (0, 7, 59):
        fit = np.polyval(np.polyfit(t, spectra[row], 2), t)
        np.testing.assert_allclose(one[row], spectra[row] - fit, atol=1e-10)
