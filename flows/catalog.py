"""The text catalogues: every word the client reads, by key, in French and English."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from flows.types import LANGUAGES, Language, as_language


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


class Catalog:
    """Texts by language and dotted key (``need.question``), loaded once from ``flows/texts``."""

    def __init__(self, texts: dict[Language, dict[str, Any]]) -> None:
        self._texts = texts

    @classmethod
    def load(cls) -> Catalog:
        folder = resources.files("flows") / "texts"
        texts: dict[Language, dict[str, Any]] = {}
        for language in LANGUAGES:
            raw = (folder / f"{language}.toml").read_text(encoding="utf-8")
            table = _flatten(tomllib.loads(raw))
            # A feature may keep its texts in a file of its own: ``texts/<language>/<feature>.toml``.
            extra = folder / language
            if extra.is_dir():
                parts = sorted((p for p in extra.iterdir() if p.name.endswith(".toml")), key=lambda p: p.name)
                for part in parts:
                    more = _flatten(tomllib.loads(part.read_text(encoding="utf-8")))
                    clash = table.keys() & more.keys()
                    if clash:
                        raise ValueError(f"{language}/{part.name} repeats {sorted(clash)[:3]}")
                    table.update(more)
            texts[language] = table
        return cls(texts)

    def _table(self, language: str) -> dict[str, Any]:
        return self._texts[as_language(language)]

    def keys(self, language: str) -> set[str]:
        return set(self._table(language))

    def raw(self, language: str, key: str) -> Any:
        return self._table(language)[key]

    def text(self, language: str, key: str, **values: object) -> str:
        template = self._table(language)[key]
        if not isinstance(template, str):
            raise TypeError(f"text {key!r} is not a string")
        return template.format(**values) if values else template
