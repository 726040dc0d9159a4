"""Issue 10's CLI defects and the run API's ``tags``/``config_ids``: a template without a split
step runs to the end with no traceback (no cv_score to format), a malformed runtime graph in a
bundle is one error line (``GraphError`` is a ``NirsError``), and tags land in ``run.yaml``
and in ``nirs workspace summary``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path
from test_bundle_fixtures import KEY, corn_parts, read_members, resign, write_members

import nirs_core
from nirs_core.app.train import write_bundle
from nirs_core.cli import main
from nirs_core.errors import ConfigError, NirsError
from nirs_core.graph.runtime import GraphError, RuntimeGraph
from nirs_core.store.bundle import KEY_ENV
from nirs_core.store.workspace import Workspace

pytestmark = pytest.mark.usefixtures("no_ambient_key")

NO_SPLIT = (
    "name: no_split\npipeline:\n  - SNV\n  - model: {class: PLS, params: {n_components: 4, scale: false}}\n"
)
SPLIT_SWEEP = """\
name: sweep
pipeline:
  - split: {class: sklearn.model_selection.KFold, params: {n_splits: 3, shuffle: true, random_state: 0}}
  - _or_: [SNV, MSC]
  - model: {class: PLS, params: {scale: false}}
    param: n_components
    _range_: [2, 6, 4]
"""


def test_a_template_without_a_split_runs_and_prints_no_traceback(tmp_path, capsys, corn_arrays):
    template = tmp_path / "no_split.yaml"
    template.write_text(NO_SPLIT)
    ws = tmp_path / "ws"
    code = main(
        ["run", str(template), "--data", str(shared_path("corn")), "--workspace", str(ws), "--no-progress"]
    )
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    assert ": completed, 1/1 results" in out
    assert "best on corn: none by cv_score (no result has one: the template has no split step)" in out
    (row,) = [line for line in out.splitlines() if line.startswith("corn ")]
    cells = row.split()
    assert cells[-2] == "-"  # no cv_score
    # the test score is the refit PLS's RMSEP, recomputed here with numpy's own SNV and scikit-learn's PLS
    from sklearn.cross_decomposition import PLSRegression

    def snv(X):
        return (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)

    pls = PLSRegression(n_components=4, scale=False).fit(snv(corn_arrays["Xcal"]), corn_arrays["ycal"])
    rmsep = float(
        np.sqrt(np.mean((pls.predict(snv(corn_arrays["Xval"])).ravel() - corn_arrays["yval"]) ** 2))
    )
    assert float(cells[-1]) == pytest.approx(rmsep, rel=1e-5)


def test_graph_error_is_a_nirs_error_and_a_value_error():
    assert issubclass(GraphError, NirsError) and issubclass(GraphError, ValueError)
    with pytest.raises(GraphError, match=r"runtime graph: format 'nope'; this version reads nirs\.graph/1"):
        RuntimeGraph.from_dict({"format": "nope", "nodes": []})


def _unknown_output(graph: dict) -> str:
    graph["outputs"]["node"] = "999_missing"  # the output names a node the graph does not have
    return "output node '999_missing' is not in the graph"


def _unknown_parent(graph: dict) -> str:
    graph["nodes"][1]["parents"] = ["998_ghost"]
    return "has unknown parents ['998_ghost']"


def _unknown_kind(graph: dict) -> str:
    graph["nodes"][1]["kind"] = "teleport"
    return "has kind 'teleport'"


@pytest.mark.parametrize("malform", [_unknown_output, _unknown_parent, _unknown_kind])
def test_a_bundle_with_a_malformed_graph_is_one_error_line(
    malform, tmp_path, corn_arrays, monkeypatch, capsys
):
    monkeypatch.setenv(KEY_ENV, KEY)
    good = write_bundle(corn_parts(corn_arrays), tmp_path / "good.zip", key=KEY, datasheet=False)
    members = read_members(good)
    graph = json.loads(members["graph.json"])
    message = malform(graph)
    bad = write_members(tmp_path / "bad.zip", resign({**members, "graph.json": json.dumps(graph).encode()}))
    code = main(["predict", str(bad), str(shared_path("corn") / "Xval.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("nirs predict: error: ") and len(err.strip().splitlines()) == 1, err
    assert message in err


def test_run_records_tags_and_runs_only_the_configs_asked_for(tmp_path, capsys):
    template = tmp_path / "sweep.yaml"
    template.write_text(SPLIT_SWEEP)
    corn = shared_path("corn")
    everything = nirs_core.run(
        templates=[template], datasets=[corn], workspace=tmp_path / "all", progress=False
    )
    ids = [r["config_id"] for r in everything.results]
    assert len(ids) == 4
    some = nirs_core.run(
        templates=[template],
        datasets=[corn],
        workspace=tmp_path / "ws",
        name="two of four",
        tags={"dagster_run_id": "abc-123"},
        config_ids=ids[2:],
        progress=False,
    )
    assert [r["config_id"] for r in some.results] == ids[2:] and some.tags == {"dagster_run_id": "abc-123"}
    # the same configs, the same scores as in the full run (nothing else shares their computation)
    full = {r["config_id"]: (r["cv_score"], r["test_score"]) for r in everything.results}
    assert {r["config_id"]: (r["cv_score"], r["test_score"]) for r in some.results} == {
        i: full[i] for i in ids[2:]
    }
    assert Workspace(tmp_path / "ws").load_run(some.run_id).tags == {"dagster_run_id": "abc-123"}
    assert main(["workspace", "summary", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert f"    {some.run_id}  completed  2 results  two of four  dagster_run_id=abc-123" in out
    assert main(["workspace", "summary", str(tmp_path / "ws"), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)["run_list"]
    assert listed["tags"] == {"dagster_run_id": "abc-123"} and listed["results"] == 2


def test_bad_tags_and_config_ids_are_refused_before_anything_is_written(tmp_path):
    template = tmp_path / "sweep.yaml"
    template.write_text(SPLIT_SWEEP)
    corn = shared_path("corn")
    ws = tmp_path / "ws"
    with pytest.raises(ConfigError, match=r"run: tags must map strings to strings; got \{'n': 1\}"):
        nirs_core.run(templates=[template], datasets=[corn], workspace=ws, tags={"n": 1})
    with pytest.raises(
        ConfigError, match=r"run: config_ids \['feedbeef'\] are not configs of the templates given"
    ):
        nirs_core.run(templates=[template], datasets=[corn], workspace=ws, config_ids=["feedbeef"])
    with pytest.raises(ConfigError, match="run: config_ids must be a collection of config id strings"):
        nirs_core.run(templates=[template], datasets=[corn], workspace=ws, config_ids="feedbeef")
    with pytest.raises(ConfigError, match="run: config_ids is empty"):
        nirs_core.run(templates=[template], datasets=[corn], workspace=ws, config_ids=[])
    assert Workspace(ws).run_ids() == []
