"""nirs4all's operator paths resolve to our operators of the same technique, with nirs4all's
parameter names and defaults, without importing nirs4all."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.signal

from nirs_core.errors import ConfigError
from nirs_core.pipeline.generators import expand
from nirs_core.pipeline.serialize import Context, canonicalize, from_canonical, resolve_class
from nirs_core.registry import NIRS4ALL_ALIASES, nirs4all_alias, resolve


@pytest.mark.parametrize(("family", "name"), sorted(NIRS4ALL_ALIASES))
def test_every_alias_resolves_to_one_of_our_classes(family, name):
    cls = resolve(f"nirs4all.operators.{family}.{name}")
    assert cls.__module__.startswith("nirs_core.")
    # any module path inside the family maps by the class name
    assert resolve_class(f"nirs4all.operators.{family}.some_module.{name}") is cls


def test_nirs4all_is_never_imported():
    code = (
        "import sys; from nirs_core.pipeline.generators import expand; "
        "expand(['nirs4all.operators.transforms.SNV', {'class': 'nirs4all.operators.transforms.nirs.SavitzkyGolay'},"
        " {'split': 'nirs4all.operators.splitters.KennardStoneSplitter'}, {'model': 'nirs4all.operators.models.IKPLS'}]);"
        " print(any(m == 'nirs4all' or m.startswith('nirs4all.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_nirs4all_defaults_and_names_are_translated():
    (cfg,) = expand(
        [
            "nirs4all.operators.transforms.SavitzkyGolay",
            {"class": "nirs4all.operators.transforms.EMSC", "params": {"degree": 1, "copy": False}},
            {"class": "nirs4all.operators.transforms.ReflectanceToAbsorbance", "params": {"min_value": 1e-6}},
            {
                "model": {
                    "class": "nirs4all.operators.models.IKPLS",
                    "params": {"n_components": 4, "backend": "numpy"},
                }
            },
        ]
    )
    sg, emsc, absorb, model = cfg.steps
    assert sg["params"]["polyorder"] == 3  # nirs4all's default, not ours (2)
    assert emsc["params"]["order"] == 1
    assert absorb["params"]["min_reflectance"] == 1e-6
    assert model["model"]["params"] == {"algorithm": 1, "n_components": 4, "scale": True}
    assert nirs4all_alias("nirs4all.operators.transforms.Detrend", {"bp": 0}) == ("Detrend", {"order": 1})


def test_translated_operators_compute_the_same_numbers_as_scipy(corn_arrays):
    X = corn_arrays["Xcal"]
    sg = from_canonical(canonicalize("nirs4all.operators.transforms.SavitzkyGolay", Context.OPERATOR, "s"))
    expected = scipy.signal.savgol_filter(X, 11, 3, deriv=0, axis=1, mode="interp")
    np.testing.assert_allclose(sg.fit(X).transform(X), expected, rtol=1e-12, atol=1e-12)
    detrend = from_canonical(canonicalize("nirs4all.operators.transforms.Detrend", Context.OPERATOR, "d"))
    np.testing.assert_allclose(
        detrend.fit(X).transform(X), scipy.signal.detrend(X, axis=1, type="linear"), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize(
    ("step", "match"),
    [
        (
            "nirs4all.operators.transforms.SavGolDeriv",
            r"steps\[0\]\.class: nirs4all\.operators\.transforms\.SavGolDeriv: no counterpart .* Nearest: .*SavitzkyGolay",
        ),
        (
            {"class": "nirs4all.operators.transforms.SNV", "params": {"axis": 0}},
            r"steps\[0\]\.class: .*SNV: axis=0 has no counterpart in SNV \(only axis=1",
        ),
        (
            {"class": "nirs4all.operators.transforms.SNV", "params": {"windw": 3}},
            r"steps\[0\]\.params: StandardNormalVariate has no parameter 'windw'",
        ),
        ("nirs4all.operators.nothing.SNV", r"no counterpart of this nirs4all operator"),
    ],
)
def test_unmapped_paths_and_values_raise_naming_the_path(step, match):
    with pytest.raises(ConfigError, match=match):
        expand([step, "PLS"])


def test_resolve_reports_an_unmapped_path():
    with pytest.raises(ConfigError, match=r"nirs4all\.operators\.models\.Unheard: no counterpart"):
        resolve("nirs4all.operators.models.Unheard")
