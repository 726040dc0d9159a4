"""Runs through the Python API: what a run writes, the status machine (completed, failed,
paused, cancelled), resume without duplicates, templates and datasets as objects, Run.best."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import yaml
from conftest import REPO, shared_path

import nirs_core
from nirs_core.app.run import RESULT_KEYS, Run, RunPaused, cancel, partial_files, resume, run
from nirs_core.errors import ConfigError, DataError
from nirs_core.pipeline.generators import expand, load_template
from nirs_core.store.workspace import Workspace

SWEEP = REPO / "examples" / "corn_pls_sweep.yaml"
SMALL = {
    "name": "small",
    "pipeline": [
        {"split": {"class": "sklearn.model_selection.KFold",
                   "params": {"n_splits": 5, "shuffle": True, "random_state": 0}}},
        {"_or_": ["SNV", "MSC"]},
        {"model": {"class": "PLS", "params": {"scale": False, "n_components": 5}}},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def corn():
    return shared_path("corn")


@pytest.fixture(scope="module")
def corn_run(corn, tmp_path_factory):
    """The 21-config corn sweep, uninterrupted, through the API."""
    ws = tmp_path_factory.mktemp("api") / "ws"
    return run(templates=[SWEEP], datasets=[corn], workspace=ws, name="sweep", progress=False)


def _scores(results):
    return {(r["dataset"], r["config_id"]): (r["cv_score"], r["test_score"]) for r in results}


def _rows_per_config(ws: Workspace, dataset: str, run_id: str) -> dict[str, int]:
    frame = ws.read_predictions(dataset, run_id=run_id, columns=["config_id"])
    return dict(frame.group_by("config_id").len().iter_rows())


# ----------------------------------------------------------------------------- a completed run


def test_run_completes_and_writes_the_workspace(corn_run):
    ws, run_id = corn_run.workspace, corn_run.run_id
    configs = expand(load_template(SWEEP))
    assert corn_run.status == "completed"
    assert len(corn_run.results) == corn_run.n_expected == 21
    record = ws.load_run(run_id)
    assert [h["status"] for h in record.history] == ["queued", "running", "completed"]
    assert record.name == "sweep" and record.error is None
    assert sorted(record.checkpoints) == sorted(f"corn/{c.id}" for c in configs)
    # the template verbatim, before expansion
    stored = ws.template_path(run_id, configs[0].template_id)
    assert stored.read_text(encoding="utf-8") == SWEEP.read_text(encoding="utf-8")
    # expanded configs with choices and ids
    written = yaml.safe_load(ws.configs_path(run_id).read_text())["configs"]
    assert [c["id"] for c in written] == [c.id for c in configs]
    assert written[8]["choices"] == configs[8].choices and written[8]["steps"] == configs[8].steps
    # the run's datasets reference the registry
    refs = yaml.safe_load(ws.run_datasets_path(run_id).read_text())["datasets"]
    entry = ws.datasets.get("corn")
    assert refs == [
        {"name": "corn", "sha256": entry.sha256, "path": entry.path, "kind": "folder",
         "size": entry.size, "origin": "path", "options": {}}
    ]  # fmt: skip
    # one complete manifest per result, artefacts content-addressed
    for cfg in configs:
        manifest = ws.read_manifest(run_id, "corn", cfg.id)
        assert manifest["config_id"] == cfg.id and manifest["run_id"] == run_id
        assert manifest["config"] == cfg.steps and manifest["choices"] == cfg.choices
        assert manifest["artifacts"], "a fitted pipeline has artefacts"
        for name in manifest["artifacts"]:
            sha, ext = name.split(".", 1)
            assert hashlib.sha256(ws.get_artifact(sha, ext)).hexdigest() == sha
    # one set of prediction rows per config, all of the same size
    counts = _rows_per_config(ws, "corn", run_id)
    assert set(counts) == {c.id for c in configs} and len(set(counts.values())) == 1
    assert partial_files(ws.root) == []


def test_results_hold_what_a_person_needs(corn_run):
    first = corn_run.results[0]
    assert tuple(first) == RESULT_KEYS
    assert first["dataset"] == "corn" and first["template"] == "corn_pls_sweep"
    assert first["config_name"].startswith("0000_SNV_PLS-nc2_")
    assert first["metric"] == "rmse" and (first["n_train"], first["n_test"]) == (60, 20)
    assert [c["generator"] for c in first["choices"]] == ["_or_", "_range_"]
    assert 0 < first["cv_score"] < 1 and 0 < first["test_score"] < 1
    # rmse: lower is better
    best = corn_run.best("corn")
    assert best["cv_score"] == min(r["cv_score"] for r in corn_run.results)
    assert corn_run.best()["config_id"] == best["config_id"]
    assert corn_run.best(by="test_score")["test_score"] == min(r["test_score"] for r in corn_run.results)
    # the table and the JSON form
    assert corn_run.table().height == 21
    assert corn_run.to_dict()["results"][3]["cv_score"] == corn_run.results[3]["cv_score"]
    assert corn_run.predictions("corn", fold=-2).height == 21
    # read back from the files
    again = Run.load(corn_run.run_id, corn_run.workspace.root)
    assert again.results == corn_run.results and again.status == "completed"
    assert nirs_core.Run is Run and nirs_core.run is run and nirs_core.resume is resume


def _fake_run(metric: str, scores: list[float]) -> Run:
    results = [
        {"dataset": "d", "config_id": f"c{i}", "config_name": f"n{i}", "metric": metric,
         "cv_score": s, "test_score": None}
        for i, s in enumerate(scores)
    ]  # fmt: skip
    return Run(run_id="r", workspace=None, name="r", status="completed", results=results)


def test_best_follows_the_metric_direction():
    assert _fake_run("accuracy", [0.7, 0.95, 0.9]).best("d")["config_id"] == "c1"
    assert _fake_run("rmse", [0.7, 0.95, 0.3]).best("d")["config_id"] == "c2"
    assert _fake_run("r2", [0.2, 0.8, 0.5]).best()["config_id"] == "c1"
    assert _fake_run("bias", [0.2, -0.05, 0.1]).best()["config_id"] == "c1"
    with pytest.raises(ConfigError, match="no result with a test_score for dataset 'd'"):
        _fake_run("rmse", [0.1]).best("d", by="test_score")
    with pytest.raises(ConfigError, match="by must be 'cv_score' or 'test_score'; got 'r2'"):
        _fake_run("rmse", [0.1]).best("d", by="r2")
    two = _fake_run("rmse", [0.1, 0.2])
    two.results[1]["dataset"] = "e"
    with pytest.raises(ConfigError, match=r"results for 2 datasets \(d, e\); pass dataset=<name>"):
        two.best()
    with pytest.raises(ConfigError, match=r"results for 2 datasets \(d, e\); pass dataset=<name>"):
        two.predictions()


# ----------------------------------------------------------------------------- validation first


def test_a_bad_template_is_refused_before_anything_is_written(tmp_path, corn):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pipeline:\n  - SNV\n  - model: {class: PLS}\n    param: n_components\n    _range_: [5, 15, 0]\n"
    )
    ws = tmp_path / "ws"
    with pytest.raises(ConfigError, match=r"bad\.yaml: pipeline\[1\]\._range_: expected .*step > 0"):
        run(templates=[SWEEP, bad], datasets=[corn], workspace=ws, progress=False)
    assert Workspace(ws).run_ids() == []
    with pytest.raises(ConfigError, match=r"templates\[1\]: steps\[0\]: .*'NoSuchOperator'"):
        run(templates=[SMALL, ["NoSuchOperator"]], datasets=[corn], workspace=ws, progress=False)
    with pytest.raises(ConfigError, match=r"missing\.yaml: template file not found"):
        run(templates=[tmp_path / "missing.yaml"], datasets=[corn], workspace=ws, progress=False)
    with pytest.raises(ConfigError, match="templates is empty"):
        run(templates=[], datasets=[corn], workspace=ws, progress=False)
    assert Workspace(ws).run_ids() == []


def test_a_bad_commit_interval_is_refused_before_anything_is_written(tmp_path, corn, monkeypatch):
    ws = tmp_path / "ws"
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("NIRS_COMMIT_SECONDS", bad)
        with pytest.raises(
            ConfigError, match=rf"NIRS_COMMIT_SECONDS: expected a number of seconds >= 0; got '{bad}'"
        ):
            run(templates=[SMALL], datasets=[corn], workspace=ws, progress=False)
    assert not ws.exists() or Workspace(ws).run_ids() == []


def test_a_missing_data_path_is_refused_before_anything_is_written(tmp_path, corn):
    ws = tmp_path / "ws"
    with pytest.raises(DataError, match=r"nowhere: data path not found \(datasets\[1\]\)"):
        run(templates=[SMALL], datasets=[corn, tmp_path / "nowhere"], workspace=ws, progress=False)
    with pytest.raises(ConfigError, match=r"datasets\[0\]: a dataset mapping holds 'path'"):
        run(templates=[SMALL], datasets=[{"file": str(corn)}], workspace=ws, progress=False)
    with pytest.raises(ConfigError, match=r"datasets\[0\]: name must match"):
        run(templates=[SMALL], datasets=[{"path": corn, "name": "no spaces"}], workspace=ws, progress=False)
    with pytest.raises(ConfigError, match="datasets: the name\\(s\\) \\['x'\\] are given to more than one"):
        run(templates=[SMALL], datasets=[{"path": corn, "name": "x"}] * 2, workspace=ws, progress=False)
    with pytest.raises(ConfigError, match="cache_bytes must be an integer >= 0; got -1"):
        run(templates=[SMALL], datasets=[corn], workspace=ws, progress=False, cache_bytes=-1)
    assert Workspace(ws).run_ids() == []


# ----------------------------------------------------------------------------- status machine


def test_an_invalid_dataset_fails_before_the_run_is_created(tmp_path):
    # the datasets are read before the run record (to check the configs against them)
    data = tmp_path / "lab"
    data.mkdir()
    (data / "Xcal.csv").write_text("1100;1102\n0.1;n/a\n")
    ws = tmp_path / "ws"
    with pytest.raises(DataError, match=r"Xcal\.csv"):
        run(templates=[SMALL], datasets=[data], workspace=ws, progress=False)
    assert Workspace(ws).run_ids() == []
    assert not (ws / "datasets.yaml").exists()


def test_an_error_during_the_run_fails_it_and_resume_finishes_it(tmp_path, corn, corn_run, monkeypatch):
    data = tmp_path / "lab"
    data.mkdir()
    for name in ("Xcal.csv", "Ycal.csv", "Xval.csv", "Yval.csv"):
        shutil.copyfile(corn / name, data / name)
    ws = tmp_path / "ws"
    import nirs_core.app.run as run_module

    def broken(*args, **kwargs):
        raise DataError(f"{data / 'Xcal.csv'}: unreadable (the disk went away)")

    monkeypatch.setattr(run_module, "run_results", broken)
    with pytest.raises(DataError, match=r"Xcal\.csv") as info:
        run(templates=[SMALL], datasets=[data], workspace=ws, progress=False)
    assert any("is marked failed" in note for note in info.value.__notes__)
    (run_id,) = Workspace(ws).run_ids()
    record = Workspace(ws).load_run(run_id)
    assert record.status == "failed" and record.error.startswith("DataError: ") and "Xcal.csv" in record.error
    assert [h["status"] for h in record.history] == ["queued", "running", "failed"]
    assert Run.load(run_id, ws).results == []
    # the cause gone, resume: failed -> running -> completed
    monkeypatch.undo()
    finished = resume(run_id, ws, progress=False)
    assert finished.status == "completed" and len(finished.results) == 2
    history = [h["status"] for h in Workspace(ws).load_run(run_id).history]
    assert history == ["queued", "running", "failed", "running", "completed"]
    # the same pipelines as two configs of the sweep, on a copy of corn: the same scores
    reference = _scores(corn_run.results)
    assert {r["dataset"] for r in finished.results} == {"lab"}
    assert {r["config_id"]: (r["cv_score"], r["test_score"]) for r in finished.results} == {
        r["config_id"]: reference[("corn", r["config_id"])] for r in finished.results
    }


def test_interrupt_pauses_and_resume_appends_no_duplicate(tmp_path, corn, corn_run, monkeypatch):
    ws = tmp_path / "ws"
    real = Workspace.add_checkpoints
    calls = []

    def interrupted(self, run_id, dataset, config_ids):
        calls.append(list(config_ids))
        if len(calls) == 2:  # Ctrl-C after the 2nd group's rows were appended
            raise KeyboardInterrupt
        return real(self, run_id, dataset, config_ids)

    monkeypatch.setattr(Workspace, "add_checkpoints", interrupted)
    monkeypatch.setenv("NIRS_COMMIT_SECONDS", "0")  # commit after every group
    with pytest.raises(RunPaused) as info:
        run(templates=[SWEEP], datasets=[corn], workspace=ws, progress=False)
    assert isinstance(info.value, KeyboardInterrupt)
    run_id = info.value.run_id
    monkeypatch.setattr(Workspace, "add_checkpoints", real)
    w = Workspace(ws)
    record = w.load_run(run_id)
    assert record.status == "paused" and len(record.checkpoints) == 7
    # the first group (SNV, 7 PLS sizes) is checkpointed; the second has its manifests and
    # rows but no checkpoint
    ids = [c.id for c in expand(load_template(SWEEP))]
    assert calls == [ids[:7], ids[7:14]]
    assert all(w.manifest_path(run_id, "corn", cid).is_file() for cid in ids[:14])
    assert set(_rows_per_config(w, "corn", run_id)) == set(ids[:14])
    assert len(Run.load(run_id, ws).results) == 7

    finished = resume(run_id, ws, progress=False)
    assert finished.status == "completed" and len(finished.results) == 21
    counts = _rows_per_config(w, "corn", run_id)
    assert len(counts) == 21 and len(set(counts.values())) == 1  # one set of rows per config
    assert _scores(finished.results) == _scores(corn_run.results)
    assert [h["status"] for h in w.load_run(run_id).history] == [
        "queued", "running", "paused", "running", "completed"
    ]  # fmt: skip
    # a completed run resumes to itself
    assert resume(run_id, ws, progress=False).results == finished.results


def _paused_run(ws, data, monkeypatch) -> str:
    """The id of a run of SMALL on ``data`` paused by Ctrl-C at its first commit."""
    with monkeypatch.context() as patch:
        patch.setattr(Workspace, "add_checkpoints", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(RunPaused) as info:
            run(templates=[SMALL], datasets=[data], workspace=ws, progress=False)
    return info.value.run_id


def test_cancel_is_final(tmp_path, corn, monkeypatch):
    ws = tmp_path / "ws"
    run_id = _paused_run(ws, corn, monkeypatch)
    cancelled = cancel(run_id, ws, reason="not needed")
    assert cancelled.status == "cancelled"
    with pytest.raises(ConfigError, match="was cancelled \\(not needed\\); a cancelled run cannot resume"):
        resume(run_id, ws, progress=False)
    with pytest.raises(ConfigError, match="no run 'nope'"):
        resume("nope", ws, progress=False)
    with pytest.raises(ConfigError, match="not a workspace"):
        resume("nope", tmp_path / "elsewhere", progress=False)


# ----------------------------------------------------------------------------- objects


def test_objects_as_templates_and_datasets(tmp_path, corn, corn_run):
    from nirs_core.data import load
    from nirs_core.models import PLSRegression
    from nirs_core.operators import SNV

    ds = load(corn)
    ds.name = "corn copy"  # not a file name: sanitised
    template = [
        {"split": {"class": "sklearn.model_selection.KFold",
                   "params": {"n_splits": 5, "shuffle": True, "random_state": 0}}},
        SNV(),
        {"model": PLSRegression(n_components=5, scale=False)},
    ]  # fmt: skip
    ws = tmp_path / "ws"
    done = run(templates=template, datasets=ds, workspace=ws, progress=False)
    assert done.status == "completed" and len(done.results) == 1
    (result,) = done.results
    assert result["dataset"] == "corn_copy" and result["template"].startswith("template-")
    # the same pipeline as the sweep's config 1, on the same numbers: the same scores
    sweep = {r["config_id"]: r for r in corn_run.results}
    assert result["config_id"] in sweep
    assert (result["cv_score"], result["test_score"]) == (
        sweep[result["config_id"]]["cv_score"],
        sweep[result["config_id"]]["test_score"],
    )
    # the object was saved into the workspace and registered there
    entry = Workspace(ws).datasets.get("corn_copy")
    assert entry.path.startswith(str(Workspace(ws).root / "datasets"))
    stored = yaml.safe_load(Workspace(ws).template_path(done.run_id, result["template_id"]).read_text())
    assert stored[1] == {"class": "nirs_core.operators.scatter.StandardNormalVariate", "params": {"ddof": 0}}


def test_a_moved_dataset_is_found_again_by_its_hash(tmp_path, corn, monkeypatch):
    data = tmp_path / "place" / "corn"
    shutil.copytree(corn, data)
    ws = tmp_path / "ws"
    run_id = _paused_run(ws, data, monkeypatch)
    moved = tmp_path / "archive" / "2026" / "corn-v1"
    moved.parent.mkdir(parents=True)
    shutil.move(data, moved)
    with pytest.raises(DataError, match=r"dataset 'corn' not found: .* --data-dir DIR"):
        resume(run_id, ws, progress=False)
    finished = resume(run_id, ws, data_dirs=[tmp_path / "archive"], progress=False)
    assert finished.status == "completed" and len(finished.results) == 2
    entry = Workspace(ws).datasets.get("corn")
    assert entry.path == str(moved.resolve()) and entry.status == "moved"
    refs = yaml.safe_load(Workspace(ws).run_datasets_path(finished.run_id).read_text())["datasets"]
    assert refs[0]["path"] == str(moved.resolve())
    assert np.isfinite([r["cv_score"] for r in finished.results]).all()


def test_new_content_under_a_taken_name_becomes_a_new_dataset(tmp_path, corn):
    ws = Workspace(tmp_path / "ws")
    ws.datasets.register(corn)
    edited = tmp_path / "new" / "corn"
    shutil.copytree(corn, edited)
    lines = (edited / "Ycal.csv").read_text().splitlines()
    lines[1] = "3.5"
    (edited / "Ycal.csv").write_text("\n".join(lines) + "\n")
    done = run(templates=SMALL, datasets=[edited], workspace=ws, progress=False)
    sha = ws.datasets.get(done.datasets[0]).sha256
    assert done.datasets == [f"corn-{sha[:8]}"] and ws.datasets.get("corn").path == str(corn.resolve())
    # the same content again keeps its name
    again = run(templates=SMALL, datasets=[edited], workspace=ws, progress=False)
    assert again.datasets == done.datasets


def test_one_process_executes_a_run_at_a_time(tmp_path, corn, monkeypatch):
    import threading

    from nirs_core.store.lock import workspace_lock

    ws = tmp_path / "ws"
    run_id = _paused_run(ws, corn, monkeypatch)
    held, release = threading.Event(), threading.Event()

    def hold():
        with workspace_lock(ws, f"exec-{run_id}"):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(10)
        with pytest.raises(ConfigError, match=f"run '{run_id}': another process is executing it"):
            resume(run_id, ws, progress=False)
    finally:
        release.set()
        holder.join()
    assert resume(run_id, ws, progress=False).status == "completed"
