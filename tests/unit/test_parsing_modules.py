"""flows.parsing is the one door to the readers: every table of theirs is a known word once it is
imported, and every name it exported before the split is still there."""

from __future__ import annotations

from flows import names, needs, own_words, parsing, summary, yes_no
from flows.text import KNOWN_WORDS, _Matcher


def test_every_table_is_known_once_parsing_is_imported() -> None:
    tables = [
        (module.__name__, name, value)
        for module in (yes_no, own_words, needs, summary, names, parsing)
        for name, value in vars(module).items()
        if isinstance(value, _Matcher)
    ]
    assert len(tables) >= 10
    for module, name, table in tables:
        assert table.vocabulary <= KNOWN_WORDS, f"{module}.{name} is not in KNOWN_WORDS"


def test_the_facade_exports_each_reader_of_its_module() -> None:
    assert all(hasattr(parsing, name) for name in parsing.__all__)
    for module in (yes_no, own_words, needs, summary, names):
        for name in vars(module):
            if name.startswith("parse_") and getattr(module, name).__module__ == module.__name__:
                assert name in parsing.__all__
                assert getattr(parsing, name) is getattr(module, name)
