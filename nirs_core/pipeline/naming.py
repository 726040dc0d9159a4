"""Readable config names (``0003_SNV_PLS-nc10_ab12cd``): the short operator names that
chemometricians type, with the parameters that vary across a template's configs."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from nirs_core.pipeline.keywords import KEYWORDS, Context, Keyword
from nirs_core.pipeline.serialize import canonical_json, config_hash, resolve_class

__all__ = ["Namer"]


# --------------------------------------------------------------------------- readable names


_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")
_MAX_LABEL = 64


def _named_parts(step: dict[str, Any]) -> Iterator[tuple[Keyword, Any]]:
    """The (keyword, payload) pairs of a keyword step that config names show (``named``
    keywords whose payload holds operators; not ``split``, not plain values)."""
    for key, payload in step.items():
        keyword = KEYWORDS.get(key)
        if keyword is not None and keyword.named and keyword.context is not Context.VALUE:
            yield keyword, payload


def _walk_operators(steps: list[Any]) -> Iterator[dict[str, Any]]:
    for step in steps:
        if "class" in step:
            yield step
            continue
        for keyword, payload in _named_parts(step):
            context = keyword.context
            if context is Context.OPERATOR:
                yield payload
            elif context is Context.CHAIN:
                yield from _walk_operators(payload)
            else:
                chains = payload.values() if isinstance(payload, Mapping) else payload
                for chain in chains:
                    yield from _walk_operators(chain)


class Namer:
    """Readable config names: short operator names with the parameters that vary."""

    def __init__(self, all_steps: list[list[Any]]) -> None:
        seen: dict[tuple[str, str], dict[str, None]] = {}
        for steps in all_steps:
            for op in _walk_operators(steps):
                for param, value in op["params"].items():
                    seen.setdefault((op["class"], param), {})[canonical_json(value)] = None
        self.swept = {key for key, values in seen.items() if len(values) > 1}
        self._aliases: dict[type, list[str]] | None = None
        self._short: dict[str, str] = {}

    def _short_name(self, class_text: str) -> str:
        if class_text not in self._short:
            cls = resolve_class(class_text)
            if self._aliases is None:
                # The classes of these configs are imported already, hence registered; the
                # public available() would import every operator module just to name them.
                from nirs_core.registry import registered as _registered

                self._aliases = {}
                for alias, registered in sorted(_registered().items()):
                    if "." not in alias and ":" not in alias:
                        self._aliases.setdefault(registered, []).append(alias)
            names = self._aliases.get(cls)
            if names:
                short = min(names, key=lambda s: (len(s), s))
            else:
                match = re.fullmatch(r"([A-Z0-9]+)Regression", cls.__name__)
                short = match.group(1) if match else cls.__name__
            self._short[class_text] = short
        return self._short[class_text]

    def _operator_label(self, op: dict[str, Any], compact: bool) -> str:
        short = self._short_name(op["class"])
        if compact:  # StandardScaler -> SS: room for the parameters that vary
            short = "".join(ch for ch in short if ch.isupper() or ch.isdigit()) or short
        parts = [short]
        for param in sorted(op["params"]):
            if (op["class"], param) in self.swept:
                abbrev = "".join(w[0] for w in param.split("_") if w) if "_" in param else param
                parts.append(f"{abbrev}{_format_value(op['params'][param])}")
        return "-".join(parts)

    def _chain_label(self, steps: list[Any], sep: str, compact: bool) -> str:
        labels = (self._step_label(step, compact) for step in steps)
        return sep.join(label for label in labels if label)

    def _step_label(self, step: dict[str, Any], compact: bool) -> str:
        if "class" in step:
            return self._operator_label(step, compact)
        for keyword, payload in _named_parts(step):
            context = keyword.context
            if context is Context.OPERATOR:
                return keyword.label_prefix + self._operator_label(payload, compact)
            if context is Context.CHAIN:
                return keyword.label_prefix + self._chain_label(payload, ".", compact)
            chains = [payload[k] for k in sorted(payload)] if isinstance(payload, Mapping) else payload
            return "+".join(self._chain_label(chain, ".", compact) or "id" for chain in chains)
        return ""

    def name(self, index: int, width: int, steps: list[Any], short_id: str) -> str:
        label = _UNSAFE.sub("", self._chain_label(steps, "_", compact=False))
        if len(label) > _MAX_LABEL:
            label = _UNSAFE.sub("", self._chain_label(steps, "_", compact=True))
        label = label[:_MAX_LABEL].strip("_.+-")
        return f"{index:0{width}d}_{label}_{short_id}" if label else f"{index:0{width}d}_{short_id}"


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if value is None or isinstance(value, (bool, int, str)):
        return str(value)
    return config_hash(value)[:4]
