"""The config catalogue keeps each registered template version verbatim beside the list of its
config ids; a ``.json`` template must not collide with that list."""

from __future__ import annotations

import json

from nirs_core.pipeline.generators import expand, load_template
from nirs_dagster.partitions import ConfigCatalogue

JSON_TEMPLATE = {
    "name": "json_sweep",
    "pipeline": [
        {"split": {"class": "sklearn.model_selection.KFold", "params": {"n_splits": 3}}},
        {"_or_": ["SNV", "MSC"]},
        {
            "model": {"class": "PLS", "params": {"scale": False}},
            "param": "n_components",
            "_range_": [2, 4, 2],
        },
    ],
}


def test_a_json_template_keeps_its_text_and_its_config_list_apart(tmp_path):
    path = tmp_path / "templates" / "sweep.json"
    path.parent.mkdir()
    path.write_text(json.dumps(JSON_TEMPLATE, indent=2), encoding="utf-8")
    catalogue = ConfigCatalogue(tmp_path / "dagster")
    registered = catalogue.register(path)
    want = [c.id for c in expand(load_template(path))]
    assert list(registered.config_ids) == want and len(want) == 4
    assert list(catalogue.registered(registered.sha256)) == want
    path.write_text("{}", encoding="utf-8")  # the file changes after registration
    for config_id in want:
        stored = catalogue.template_of(config_id)
        assert json.loads(stored.text) == JSON_TEMPLATE and stored.path == path
        assert config_id in [c.id for c in expand(stored)]
