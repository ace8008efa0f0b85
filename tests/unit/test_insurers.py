"""The shipped list of insurers (flows/data/insurers.toml) and how the intake reads it.

Every alias must read back its own entry, belong to one entry only, and never be a word another
step of the intake answers with (a "non", a weekday): a client's answer there would otherwise be
recorded as an insurer. The list must load with the keys the reader and the console use.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from importlib import resources
from typing import Any

import pytest

from flows import parsing  # noqa: F401  (fills KNOWN_WORDS: the keywords of every step)
from flows.commands import parse_command
from flows.insurers import Insurer, insurers, known, parse_insurance
from flows.text import KNOWN_WORDS, normalize
from flows.yes_no import parse_yes_no

KINDS = {
    "mutuelle",
    "assureur",
    "institution de prévoyance",
    "réseau de soins",
    "tiers payant",
    "régime public",
}
# Words other steps are answered with, beyond their keywords (KNOWN_WORDS): weekdays, months,
# the answers of this very question.
OTHER_ANSWERS = {
    "oui", "non", "yes", "no", "ok", "aucune", "aucun", "rien", "none", "passer", "skip",
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche", "demain",
    "janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre",
    "octobre", "novembre", "decembre", "matin", "midi", "soir", "secu", "carte vitale",
    "mutuelle", "assurance", "complementaire",
}  # fmt: skip


def _raw() -> dict[str, Any]:
    text = resources.files("flows").joinpath("data/insurers.toml").read_text("utf-8")
    entries: dict[str, Any] = tomllib.loads(text)["insurers"]
    return entries


ALIASES = [(key, alias) for key, entry in _raw().items() for alias in entry["aliases"]]


def test_the_list_loads_with_its_keys() -> None:
    raw = _raw()
    assert len(raw) >= 40
    for key, entry in raw.items():
        assert set(entry) == {"name", "kind", "aliases"}, key
        assert isinstance(entry["name"], str), key
        assert entry["name"].strip() == entry["name"] != "", key
        assert entry["kind"] in KINDS, (key, entry["kind"])
        aliases = entry["aliases"]
        assert isinstance(aliases, list), key
        assert aliases, key
        assert all(isinstance(a, str) and normalize(a) for a in aliases), key
    loaded = insurers()
    assert set(loaded) == set(raw)
    assert all(isinstance(i, Insurer) and i.key == key for key, i in loaded.items())
    names = [i.name for i in loaded.values()]
    assert len(names) == len(set(names))  # a name recorded is one entry


@pytest.mark.parametrize(("key", "alias"), ALIASES, ids=[f"{k}:{a}" for k, a in ALIASES])
def test_every_alias_reads_back_its_own_entry(key: str, alias: str) -> None:
    name = insurers()[key].name
    assert parse_insurance(alias) == name
    assert parse_insurance(alias.upper()) == name
    assert parse_insurance(f"c'est la {alias}") == name


def test_no_alias_belongs_to_two_entries() -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for key, alias in ALIASES:
        owners[normalize(alias)].add(key)
    shared = {alias: keys for alias, keys in owners.items() if len(keys) > 1}
    assert shared == {}


@pytest.mark.parametrize(("key", "alias"), ALIASES, ids=[f"{k}:{a}" for k, a in ALIASES])
def test_no_alias_is_a_word_another_step_answers_with(key: str, alias: str) -> None:
    folded = normalize(alias)
    assert folded not in OTHER_ANSWERS
    assert folded not in KNOWN_WORDS  # a keyword of another step ("perdu", "visite", "photo")
    assert parse_yes_no(alias) is None
    assert parse_command(alias) is None


@pytest.mark.parametrize("word", sorted(OTHER_ANSWERS))
def test_another_steps_answer_is_never_an_insurer(word: str) -> None:
    # Not a listed insurer, nor a name kept as typed: an answer of this question, or no answer.
    assert parse_insurance(word) in (None, "none", "skip", "which")


def test_known_round_trips_every_name() -> None:
    for key, insurer in insurers().items():
        assert known(insurer.name) == insurer, key
        assert parse_insurance(insurer.name) == insurer.name, key  # the name typed is itself
    assert known("Groupe Pasteur Mutualité") is None  # kept as typed
    assert known("mgen") is None  # only a name as recorded
    assert known(None) is None
    assert known("") is None
