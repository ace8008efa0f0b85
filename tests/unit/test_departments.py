"""flows.departments: the shipped table of departments and neighbours, and postal codes."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import pytest

from flows.departments import DEPARTMENTS, department_of, name_of, neighbours

OVERSEAS = {"971", "972", "973", "974", "975", "976"}


def _raw_table() -> dict[str, Any]:
    raw = (resources.files("flows") / "data" / "departments.toml").read_text(encoding="utf-8")
    table = tomllib.loads(raw)["departments"]
    assert isinstance(table, dict)
    return table


# ------------------------------------------------------------------------------- the table


def test_codes_are_96_metropolitan_plus_overseas() -> None:
    metropolitan = [code for code in DEPARTMENTS if code not in OVERSEAS]
    assert len(metropolitan) == 96
    assert set(DEPARTMENTS) - set(metropolitan) == OVERSEAS
    assert len(DEPARTMENTS) == len(set(DEPARTMENTS)) == 102
    assert "20" not in DEPARTMENTS
    assert {"01", "19", "2A", "2B", "21", "95"} <= set(DEPARTMENTS)


def test_file_lists_exactly_the_codes_in_order() -> None:
    assert list(_raw_table()) == list(DEPARTMENTS)


def test_every_department_has_a_name() -> None:
    for code in DEPARTMENTS:
        name = name_of(code)
        assert name, code
        assert name == name.strip(), code


def test_neighbour_codes_exist_and_are_not_self() -> None:
    for code in DEPARTMENTS:
        around = neighbours(code)
        assert code not in around, code
        assert set(around) <= set(DEPARTMENTS), (code, set(around) - set(DEPARTMENTS))
        assert list(around) == sorted(set(around)), f"{code}: neighbours unsorted or repeated"


def test_neighbours_are_symmetric() -> None:
    one_way = [(a, b) for a in DEPARTMENTS for b in neighbours(a) if a not in neighbours(b)]
    assert one_way == []


def test_every_metropolitan_department_has_a_neighbour_and_overseas_none() -> None:
    for code in DEPARTMENTS:
        if code in OVERSEAS:
            assert neighbours(code) == (), code
        else:
            assert neighbours(code), code


def test_the_neighbour_graph_of_the_mainland_is_connected() -> None:
    mainland = [code for code in DEPARTMENTS if code not in OVERSEAS | {"2A", "2B"}]
    seen, todo = {"75"}, ["75"]
    while todo:
        for other in neighbours(todo.pop()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    assert seen == set(mainland)


KNOWN = [
    ("75", {"92", "93", "94"}),
    ("92", {"75", "78", "91", "93", "94", "95"}),
    ("93", {"75", "77", "92", "94", "95"}),
    ("94", {"75", "77", "91", "92", "93"}),
    ("2A", {"2B"}),
    ("2B", {"2A"}),
    ("29", {"22", "56"}),
    ("06", {"04", "83"}),  # Monaco and Italy are foreign
    ("59", {"02", "62", "80"}),  # Belgium is foreign
    ("62", {"59", "80"}),
    ("80", {"02", "59", "60", "62", "76"}),
    ("13", {"30", "83", "84"}),
    ("66", {"09", "11"}),
    ("74", {"01", "73"}),
    ("57", {"54", "67"}),
    ("68", {"67", "88", "90"}),
    ("07", {"26", "30", "38", "42", "43", "48", "84"}),
    ("69", {"01", "38", "42", "71"}),
    ("49", {"35", "37", "44", "53", "72", "79", "85", "86"}),
    ("77", {"02", "10", "45", "51", "60", "89", "91", "93", "94", "95"}),
    ("973", set()),  # French Guiana borders only Brazil and Suriname
    ("974", set()),
]


@pytest.mark.parametrize(("code", "expected"), KNOWN, ids=[row[0] for row in KNOWN])
def test_known_neighbours(code: str, expected: set[str]) -> None:
    assert set(neighbours(code)) == expected


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("01", "Ain"),
        ("2A", "Corse-du-Sud"),
        ("2B", "Haute-Corse"),
        ("21", "Côte-d'Or"),
        ("75", "Paris"),
        ("90", "Territoire de Belfort"),
        ("973", "Guyane"),
        ("974", "La Réunion"),
        ("976", "Mayotte"),
    ],
)
def test_names(code: str, name: str) -> None:
    assert name_of(code) == name


@pytest.mark.parametrize("code", ["20", "00", "96", "977", "980", "", "7", "A2", "750"])
def test_unknown_codes(code: str) -> None:
    assert name_of(code) is None
    assert neighbours(code) == ()


def test_lower_case_and_spaces_are_tolerated() -> None:
    assert neighbours(" 2a ") == ("2B",)
    assert name_of("2b") == "Haute-Corse"


# ---------------------------------------------------------------------------- postal codes

POSTAL = [
    ("75011", "75"),
    ("01000", "01"),
    ("13001", "13"),
    ("95000", "95"),
    ("20000", "2A"),
    ("20090", "2A"),
    ("20167", "2A"),
    ("20200", "2B"),
    ("20600", "2B"),
    ("20700", None),
    ("97110", "971"),
    ("97200", "972"),
    ("97300", "973"),
    ("97400", "974"),
    ("97500", "975"),
    ("97600", "976"),
    ("97700", None),
    ("97800", None),
    ("98000", None),  # Monaco
    ("98800", None),  # New Caledonia
    ("00100", None),
    ("96000", None),
    ("99000", None),
    (" 75011 ", "75"),
    ("7501", None),
    ("750110", None),
    ("75 011", None),
    ("ABCDE", None),
    ("7501A", None),
    ("٧٥٠١١", None),  # Arabic-Indic digits are not a French postal code
    ("", None),
]


@pytest.mark.parametrize(("postal_code", "expected"), POSTAL, ids=[repr(row[0]) for row in POSTAL])
def test_department_of(postal_code: str, expected: str | None) -> None:
    assert department_of(postal_code) == expected


def test_every_five_digit_code_gives_a_known_department_or_none() -> None:
    found = {department_of(f"{n:05d}") for n in range(100_000)}
    assert found == set(DEPARTMENTS) | {None}
