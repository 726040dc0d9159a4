"""Hostile templates: classes that run code or touch files, nested ones, callables, alias bombs,
deep nesting, huge files. Each is refused with one line naming the file and the place in it,
before any module of the template is imported and without anything happening on disk; a
module the user allows explicitly (``NIRS_ALLOWED_MODULES`` or ``nirs.yaml``) still works."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc

import pytest
from conftest import shared_path

from nirs_core.cli import main as nirs
from nirs_core.errors import ConfigError
from nirs_core.pipeline import _limits
from nirs_core.pipeline.generators import count, expand, load_template
from nirs_core.registry import allowing, resolve, resolve_callable

REFUSED = r"is not an allowed (operator|callable)"


@pytest.fixture
def victim(tmp_path):
    """A file that hostile templates try to empty or a marker they try to create."""
    path = tmp_path / "victim.txt"
    path.write_text("precious\n")
    return path


@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    """An importable module that writes a marker file when imported."""
    marker = tmp_path / "imported.marker"
    (tmp_path / "evil_mod_x.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "class Thing:\n    def __init__(self, a=1):\n        self.a = a\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop("evil_mod_x", None)


def _hostile(victim, marker):
    """(name, template text, the path the error must name)."""
    popen = f"{{class: subprocess.Popen, params: {{args: [touch, {marker}]}}}}"
    return [
        ("popen step", f"pipeline:\n  - {popen}\n", r"pipeline\[0\]\.class"),
        (
            "file handler",
            f"pipeline:\n  - {{class: logging.FileHandler, params: {{filename: {victim}, mode: w}}}}\n",
            r"pipeline\[0\]\.class",
        ),
        (
            "popen nested in a model",
            "pipeline:\n  - model: {class: sklearn.ensemble.BaggingRegressor, params: {estimator: "
            + popen
            + "}}\n",
            r"pipeline\[0\]\.model\.params\.estimator\.class",
        ),
        (
            "popen inside a generator",
            f"pipeline:\n  - _or_: [SNV, {popen}]\n",
            r"pipeline\[0\]\._or_\[1\]\.class",
        ),
        (
            "os.system as a callable",
            "pipeline:\n  - {class: sklearn.preprocessing.FunctionTransformer, "
            "params: {func: {callable: os.system}}}\n",
            r"pipeline\[0\]\.params\.func",
        ),
        (
            "numpy file output as a callable",
            "pipeline:\n  - {class: sklearn.preprocessing.FunctionTransformer, "
            "params: {func: {callable: numpy.save}}}\n",
            r"pipeline\[0\]\.params\.func",
        ),
        (
            "a class given as a callable",
            "pipeline:\n  - {class: {callable: subprocess.Popen}}\n",
            r"pipeline\[0\]\.class",
        ),
        ("a scikit-learn helper", "pipeline:\n  - sklearn.utils.Bunch\n", r"pipeline\[0\]"),
        (
            "a scikit-learn download",
            "pipeline:\n  - {class: sklearn.datasets.fetch_openml}\n",
            r"pipeline\[0\]\.class",
        ),
        ("a module with import side effects", "pipeline:\n  - evil_mod_x.Thing\n", r"pipeline\[0\]"),
        (
            "a project class that is not an operator",
            f"pipeline:\n  - {{class: nirs_core.store.workspace.Workspace, params: {{root: {victim}}}}}\n",
            r"pipeline\[0\]\.class",
        ),
    ]


CASES = [c[0] for c in _hostile("v", "m")]


@pytest.mark.parametrize("case", CASES)
def test_hostile_classes_are_refused_before_import(case, tmp_path, victim, evil_module):
    marker = tmp_path / "popen.marker"
    _, text, where = next(c for c in _hostile(victim, marker) if c[0] == case)
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    loaded = load_template(path)
    assert count(loaded) >= 1  # counting resolves nothing
    with pytest.raises(ConfigError, match=rf"^{path}: {where}: .*{REFUSED}") as info:
        expand(loaded)
    assert "\n" not in str(info.value)
    assert victim.read_text() == "precious\n"
    assert not marker.exists() and not evil_module.exists()
    assert "evil_mod_x" not in sys.modules


def test_the_cli_refuses_with_one_line_and_writes_nothing(tmp_path, victim, evil_module, capsys):
    marker = tmp_path / "popen.marker"
    for _, text, _ in _hostile(victim, marker):
        path = tmp_path / "hostile.yaml"
        path.write_text(text)
        ws = tmp_path / "ws"
        assert nirs(["expand", str(path)]) == 2
        assert nirs(["run", str(path), "--data", str(shared_path("corn")), "--workspace", str(ws)]) == 2
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 2 and all(REFUSED.split("(")[0] in line for line in lines), err
        assert not (ws / "runs").exists() or not any((ws / "runs").iterdir())
    assert victim.read_text() == "precious\n" and not marker.exists() and not evil_module.exists()


def test_alias_bomb_is_refused_fast(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    lines.append("pipeline: [*a9]")
    text = "\n".join(lines) + "\n"
    assert len(text) < 1100  # 10**10 strings once expanded
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    tracemalloc.start()  # memory only: the time is measured by bench/hostile_inputs.py
    with pytest.raises(
        ConfigError, match=r"bomb\.yaml: line \d+, column \d+: invalid YAML: .*more than 100000 values"
    ):
        load_template(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20, peak


def test_a_few_aliases_still_work(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            defaults: &pls {class: PLS, params: {n_components: 3}}
            pipeline:
              - SNV
              - model: *pls
            """
        ).replace("defaults: &pls", "pipeline_defaults: &pls")
    )
    with pytest.raises(ConfigError, match="unknown key 'pipeline_defaults'"):
        expand(load_template(path))
    path.write_text("pipeline:\n  - &snv SNV\n  - {_or_: [*snv, MSC]}\n  - model: PLS\n")
    assert len(expand(load_template(path))) == 2


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_deep_nesting_is_one_line(tmp_path, suffix):
    depth = 5000
    path = tmp_path / f"deep{suffix}"
    path.write_text(
        "pipeline: " + "[" * depth + "SNV" + "]" * depth + "\n"
        if suffix == ".yaml"
        else '{"pipeline": ' + "[" * depth + '"SNV"' + "]" * depth + "}"
    )
    with pytest.raises(ConfigError, match=rf"deep\{suffix}: .*(nest|deep)") as info:
        expand(load_template(path))
    assert "\n" not in str(info.value)


def test_python_templates_have_the_same_bounds():
    deep = "SNV"
    for _ in range(_limits.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(ConfigError, match=rf"steps(\[0\])+: nesting deeper than {_limits.MAX_DEPTH} levels"):
        expand([deep])
    with pytest.raises(ConfigError, match=rf"steps: a pipeline holds at most {_limits.MAX_STEPS} steps; got"):
        count(["SNV"] * (_limits.MAX_STEPS + 1))
    shared = ["SNV"] * 400
    wide = [{"_or_": [shared] * 400}]  # 160 000 values through a shared list
    with pytest.raises(ConfigError, match=rf"a template holds at most {_limits.MAX_NODES} values"):
        count(wide)


def test_huge_binary_and_non_utf8_files(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(_limits.MAX_TEMPLATE_BYTES + 1)
    with pytest.raises(
        ConfigError, match=rf"big\.yaml: a template file is at most {_limits.MAX_TEMPLATE_BYTES} bytes"
    ):
        load_template(big)
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"pipeline: [SNV]\x00\n")
    with pytest.raises(ConfigError, match=r"nul\.yaml: not a text file \(a NUL byte at byte 15\)"):
        load_template(nul)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\u00e9\npipeline: [SNV]\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml: not UTF-8 text .*save the template as UTF-8"):
        load_template(latin)
    with pytest.raises(ConfigError, match=r"missing\.yaml: template file not found"):
        load_template(tmp_path / "missing.yaml")


def test_user_modules_are_allowed_explicitly(tmp_path, monkeypatch):
    pkg = tmp_path / "mylab_ops_x.py"
    pkg.write_text(
        "from sklearn.base import BaseEstimator, TransformerMixin\n"
        "class Twice(TransformerMixin, BaseEstimator):\n"
        "    def __init__(self, k=2):\n        self.k = k\n"
        "    def fit(self, X, y=None):\n        return self\n"
        "    def transform(self, X):\n        return X * self.k\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = tmp_path / "templates"
    folder.mkdir()
    path = folder / "t.yaml"
    path.write_text("pipeline:\n  - mylab_ops_x.Twice\n  - model: PLS\n")
    with pytest.raises(ConfigError, match=rf"'mylab_ops_x\.Twice' {REFUSED}"):
        expand(load_template(path))
    (folder / "nirs.yaml").write_text("allowed_modules: [mylab_ops_x]\n")
    (cfg,) = expand(load_template(path))
    assert cfg.allowed_modules == ("mylab_ops_x",)
    assert cfg.steps[0] == {"class": "mylab_ops_x.Twice", "params": {"k": 2}}
    assert type(cfg.build()[0]).__name__ == "Twice"  # the config carries its allowance
    again = type(cfg).from_dict(cfg.to_dict())
    assert again.allowed_modules == ("mylab_ops_x",)
    with pytest.raises(ConfigError, match=REFUSED):
        resolve("mylab_ops_x.Twice")  # outside the config: not allowed
    monkeypatch.setenv("NIRS_ALLOWED_MODULES", "mylab_ops_x, other_pkg")
    assert resolve("mylab_ops_x.Twice").__name__ == "Twice"
    monkeypatch.setenv("NIRS_ALLOWED_MODULES", "mylab ops")
    with pytest.raises(
        ConfigError,
        match=r"NIRS_ALLOWED_MODULES: expected module names such as 'mylab.operators'; got 'mylab ops'",
    ):
        resolve("mylab_ops_x.Twice")
    monkeypatch.delenv("NIRS_ALLOWED_MODULES")
    with allowing(["mylab_ops_x"]):
        assert resolve_callable("mylab_ops_x.Twice").__name__ == "Twice"
    (folder / "nirs.yaml").write_text("allowed_module: [mylab_ops_x]\n")
    with pytest.raises(
        ConfigError, match=r"nirs\.yaml: unknown setting 'allowed_module'; known settings: allowed_modules"
    ):
        load_template(path)
    (folder / "nirs.yaml").write_text("allowed_modules: mylab_ops_x\n")
    with pytest.raises(ConfigError, match=r"nirs\.yaml: allowed_modules: expected a list of module names"):
        load_template(path)
    (folder / "nirs.yaml").write_text("- a\n")
    with pytest.raises(
        ConfigError, match=r"nirs\.yaml: expected a mapping such as 'allowed_modules: \[mylab\]'"
    ):
        load_template(path)
    (folder / "nirs.yaml").write_text("allowed_modules: [a\n")
    with pytest.raises(ConfigError, match=r"nirs\.yaml: invalid YAML"):
        load_template(path)


def test_what_stays_allowed():
    assert resolve("sklearn.preprocessing.StandardScaler").__name__ == "StandardScaler"
    assert resolve("sklearn.model_selection.KFold").__name__ == "KFold"
    assert resolve("sklearn.preprocessing._data.StandardScaler").__name__ == "StandardScaler"
    assert resolve("nirs_core.operators.scatter.StandardNormalVariate").__name__ == "StandardNormalVariate"
    assert resolve_callable("numpy.log1p").__name__ == "log1p"
    assert resolve_callable("numpy.float64").__name__ == "float64"
    assert resolve_callable("numpy.no_such_function") is None
    with pytest.raises(ConfigError, match=r"'numpy\.lib\.npyio\.savetxt' is not an allowed callable"):
        resolve_callable("numpy.lib.npyio.savetxt")
    with pytest.raises(ConfigError, match=r"'sklearn\.utils\.Bunch' is not an allowed operator"):
        resolve("sklearn.utils.Bunch")
    with pytest.raises(ConfigError, match=r"not a scikit-learn estimator or splitter class"):
        resolve("sklearn.base.clone")
    with pytest.raises(ConfigError, match=r"module 'sklearn\.preprocessing' has no attribute 'Nope'"):
        resolve("sklearn.preprocessing.Nope")
    with pytest.raises(
        ConfigError, match=r"'nirs_core\.registry\.resolve' is not an allowed operator \(not a registered"
    ):
        resolve("nirs_core.registry.resolve")
    with pytest.raises(
        ConfigError, match=r"'nirs_core\.registry\.resolve' is not an allowed callable \(not a registered"
    ):
        resolve_callable("nirs_core.registry.resolve")


def test_a_fresh_process_never_imports_a_refused_module(tmp_path):
    """The check precedes any import, in a process where nothing was imported before."""
    marker = tmp_path / "imported.marker"
    (tmp_path / "evil_mod_y.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from nirs_core.errors import ConfigError\n"
        "from nirs_core.registry import resolve\n"
        "try:\n    resolve('evil_mod_y.Thing')\nexcept ConfigError as e:\n    print('refused')\n"
        "print('evil_mod_y' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["refused", "False"] and not marker.exists()
