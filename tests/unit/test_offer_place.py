"""The place an optician reads before accepting a visit: postal code and department, from tables."""

from __future__ import annotations

import pytest

from flows.departments import place_of


@pytest.mark.parametrize(
    ("postal_code", "department", "place"),
    [
        ("69003", "69", "69003 · Rhône"),
        ("75011", None, "75011 · Paris"),
        ("20000", "2A", "20000 · Corse-du-Sud"),
        ("20200", None, "20200 · Haute-Corse"),
        ("97400", "974", "97400 · La Réunion"),
        (" 13008 ", None, "13008 · Bouches-du-Rhône"),
        # No usable postal code: the department's name alone, or nothing.
        (None, "37", "Indre-et-Loire"),
        ("98000", "06", "Alpes-Maritimes"),
        ("Lyon", "69", "Rhône"),
        (None, "rue des Lilas", ""),
        (None, None, ""),
    ],
)
def test_the_place_comes_from_the_postal_code_and_the_department_table(
    postal_code: str | None, department: str | None, place: str
) -> None:
    assert place_of(postal_code, department) == place
