"""Partitions: ``dataset`` (one key per dataset in the data folder), ``config`` (one key per
expanded pipeline config) and their product for the per-result assets.

Both are dynamic: the sensor adds keys as files appear. A dataset key is the dataset folder's
name, or the data file's stem, sanitised (characters other than letters, digits, ``.``, ``_``
and ``-`` become ``_``). A config key is the config's id (the sha256 prefix of its canonical
JSON), so the same pipeline from two templates is one partition.

The configs behind the keys are kept in a catalogue, ``<workspace>/dagster/configs/<id>.json``
(:meth:`PipelineConfig.to_dict` plus the template file and the sha256 of its text), written
when a template is registered, so an asset can rebuild its config from its partition key alone.
Each registered version of a template is kept verbatim beside it
(``configs/templates/<sha256>.<suffix>``, with ``<sha256>.configs.json`` listing its config ids,
a name no template text can take, since a ``.json`` template's text is ``<sha256>.json``): the
engine run of a config stores the text the config was expanded from, not the file's current
text, and the inbox sensor knows which configs each template it has seen produces.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from nirs_core.errors import ConfigError, DataError
from nirs_core.names import safe_name
from nirs_core.pipeline.generators import LoadedTemplate, PipelineConfig, expand, load_template
from nirs_core.store._atomic import atomic_write_json, atomic_write_text

__all__ = [
    "DATA_SUFFIXES",
    "TEMPLATE_SUFFIXES",
    "ConfigCatalogue",
    "RegisteredTemplate",
    "config_partitions",
    "dataset_key",
    "dataset_partitions",
    "discover_datasets",
    "discover_templates",
    "result_partitions",
    "split_result_key",
]

dataset_partitions = dg.DynamicPartitionsDefinition(name="dataset")
config_partitions = dg.DynamicPartitionsDefinition(name="config")
result_partitions = dg.MultiPartitionsDefinition({"dataset": dataset_partitions, "config": config_partitions})

DATA_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".pq")
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json")


def dataset_key(path: Path) -> str:
    """The partition key of a dataset folder or file: its name (a file without its suffix),
    characters outside ``[A-Za-z0-9._-]`` replaced by ``_``, leading dots and dashes dropped."""
    name = path.name if path.is_dir() else path.stem
    key = safe_name(name)
    if not key:
        raise DataError(f"{path}: cannot make a dataset key from the name {name!r}; rename it.")
    return key


def discover_datasets(folder: Path) -> dict[str, Path]:
    """Every dataset under ``folder`` (each non-hidden sub-folder, each data file), by key.
    Two entries with the same key (``wheat/`` and ``wheat.csv``) are an error."""
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if not (entry.is_dir() or entry.suffix.lower() in DATA_SUFFIXES):
            continue
        key = dataset_key(entry)
        if key in found:
            raise DataError(
                f"{folder}: {found[key].name} and {entry.name} both make the dataset key {key!r}; rename one."
            )
        found[key] = entry
    return found


def discover_templates(folder: Path) -> list[Path]:
    """The template files in ``folder`` (not recursive), sorted by name."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in TEMPLATE_SUFFIXES and not p.name.startswith(".")
    )


def split_result_key(key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """``(dataset, config_id)`` of a ``result_partitions`` key."""
    if not isinstance(key, dg.MultiPartitionKey):
        key = result_partitions.get_partition_key_from_str(key)
    dims = key.keys_by_dimension
    return dims["dataset"], dims["config"]


@dataclass(frozen=True)
class RegisteredTemplate:
    """A template file as registered: its content hash and the ids of its configs, in order."""

    path: Path
    sha256: str
    config_ids: tuple[str, ...]


class ConfigCatalogue:
    """The expanded configs behind the ``config`` partition keys (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "configs"

    def path(self, config_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{8,64}", config_id):
            raise ConfigError(
                f"config catalogue: a config id is 8–64 lowercase hex digits; got {config_id!r}."
            )
        return self.root / f"{config_id}.json"

    def _version(self, sha256: str, suffix: str) -> Path:
        return self.root / "templates" / f"{sha256}{suffix}"

    def _listing(self, sha256: str) -> Path:
        return self._version(sha256, ".configs.json")

    def register(self, template: Path) -> RegisteredTemplate:
        """Expand ``template`` (a :class:`ConfigError` names the file and the place in it) and
        store each config and the template's text; return what was registered."""
        loaded = load_template(template)
        configs = expand(loaded)
        digest = hashlib.sha256(loaded.text.encode("utf-8")).hexdigest()
        suffix = Path(template).suffix.lower()
        text_path = self._version(digest, suffix)
        if not text_path.is_file():
            atomic_write_text(text_path, loaded.text)
        registered = RegisteredTemplate(Path(template), digest, tuple(c.id for c in configs))
        listing = {"template": str(template), "suffix": suffix, "config_ids": list(registered.config_ids)}
        listing_path = self._listing(digest)
        if not listing_path.is_file() or json.loads(listing_path.read_text(encoding="utf-8")) != listing:
            atomic_write_json(listing_path, listing)
        for config in configs:
            path = self.path(config.id)
            entry = {"template": str(template), "template_sha256": digest, **config.to_dict()}
            if not path.is_file() or json.loads(path.read_text(encoding="utf-8")) != entry:
                atomic_write_json(path, entry)
        return registered

    def registered(self, sha256: str) -> tuple[str, ...]:
        """The config ids of the template version ``sha256`` (as :meth:`register` recorded them)."""
        path = self._listing(sha256)
        older = self._version(sha256, ".json")  # where catalogues before the .configs.json name kept it
        if not path.is_file() and older.is_file():
            data = json.loads(older.read_text(encoding="utf-8"))
            if isinstance(data, dict) and "config_ids" in data and "suffix" in data:
                return tuple(data["config_ids"])
        if not path.is_file():
            raise ConfigError(
                f"config catalogue: no template version {sha256[:12]}… registered in {self.root}."
            )
        return tuple(json.loads(path.read_text(encoding="utf-8"))["config_ids"])

    def _entry(self, config_id: str) -> dict:
        path = self.path(config_id)
        if not path.is_file():
            raise ConfigError(
                f"config {config_id!r}: not in the catalogue {self.root}; register its template first "
                "(the nirs_inbox_sensor does it when the template is in the templates folder)."
            )
        return json.loads(path.read_text(encoding="utf-8"))

    def get(self, config_id: str) -> PipelineConfig:
        """The config with this id; its id is checked against its steps."""
        data = self._entry(config_id)
        data.pop("template", None)
        data.pop("template_sha256", None)
        return PipelineConfig.from_dict(data)

    def template_of(self, config_id: str) -> LoadedTemplate:
        """The template the config was expanded from, as it was then: its verbatim text (parsed),
        with the template file's path (which names the template)."""
        data = self._entry(config_id)
        source = Path(data["template"])
        digest = data.get("template_sha256")
        if digest is None:  # a catalogue written before versions were kept: the file as it is now
            return load_template(source)
        return load_template(self._version(digest, source.suffix.lower()))._replace(path=source)
