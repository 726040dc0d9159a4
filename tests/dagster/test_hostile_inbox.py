"""Hostile templates dropped into the inbox's templates folder: the sensor logs one line per
template and registers nothing of it; nothing it names is imported or constructed."""

from __future__ import annotations

import json
import sys

import dagster as dg

from nirs_dagster.partitions import ConfigCatalogue
from nirs_dagster.sensors import nirs_inbox_sensor


def test_the_inbox_sensor_refuses_hostile_templates(inbox, tmp_path, monkeypatch, capfd):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    marker = tmp_path / "popen.marker"
    imported = tmp_path / "imported.marker"
    (tmp_path / "evil_mod_z.py").write_text(f"open({str(imported)!r}, 'w').write('ran')\nclass Thing: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    popen = f"{{class: subprocess.Popen, params: {{args: [touch, {marker}]}}}}"
    bomb = "\n".join(
        ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
        + ["pipeline: [*a9]"]
    )
    hostile = {
        "popen.yaml": f"pipeline:\n  - {popen}\n  - model: PLS\n",
        "handler.yaml": f"pipeline:\n  - {{class: logging.FileHandler, params: {{filename: {victim}, mode: w}}}}\n",
        "nested.yaml": "pipeline:\n  - model: {class: sklearn.ensemble.BaggingRegressor, params: {estimator: "
        + popen
        + "}}\n",
        "evil.yaml": "pipeline:\n  - evil_mod_z.Thing\n  - model: PLS\n",
        "bomb.yaml": bomb + "\n",
        "deep.yaml": "pipeline: " + "[" * 3000 + "SNV" + "]" * 3000 + "\n",
    }
    for name, text in hostile.items():
        (inbox.templates / name).write_text(text)
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(instance=instance, resources={"nirs": inbox.nirs}) as context:
        result = nirs_inbox_sensor(context)
    added = {r.partitions_def_name: list(r.partition_keys) for r in result.dynamic_partitions_requests}
    assert len(added["config"]) == 4  # only small.yaml's configs
    skipped = [line for line in capfd.readouterr().err.splitlines() if "template skipped" in line]
    assert len(skipped) == len(hostile)
    for name in hostile:
        assert sum(name in line for line in skipped) == 1, (name, skipped)
    assert set(json.loads(result.cursor)["templates"]) == {"small.yaml", *hostile}
    stored = list(ConfigCatalogue(inbox.nirs.dagster_path()).root.glob("*.json"))
    assert len(stored) == 4
    assert victim.read_text() == "precious\n" and not marker.exists() and not imported.exists()
    assert "evil_mod_z" not in sys.modules
