"""Public holidays from the `holidays` package, as `calendars load-holidays` takes them."""

from __future__ import annotations

from datetime import date

import holidays
import pytest

from server_sync_api.services import public_holidays
from server_sync_api.services.public_holidays import HolidaySourceError


@pytest.mark.parametrize("code", ["GD", "gd", " GRD "])
def test_grenada_is_found_by_its_codes_and_named_in_english(code: str) -> None:
    grenada = public_holidays.country(code)

    assert (grenada.code, grenada.name) == ("GD", "Grenada")
    assert grenada.first_year <= 2026 < 2027 <= grenada.last_year


def test_a_name_of_several_words_reads_as_words() -> None:
    assert public_holidays.country("VC").name == "Saint Vincent and the Grenadines"


@pytest.mark.parametrize("year", [2026, 2027])
def test_the_holidays_are_the_packages_own_observed_days_included(year: int) -> None:
    loaded = public_holidays.public_holidays(public_holidays.country("GD"), year)

    expected = holidays.country_holidays("GD", years=year)
    assert [(h.day, h.name) for h in loaded] == sorted(expected.items())
    assert date(year, 2, 7) in {h.day for h in loaded}  # Independence Day, a fixed date


@pytest.mark.parametrize("code", ["XX", "", "Grenada", "G"])
def test_an_unknown_country_is_refused_with_the_form_to_use(code: str) -> None:
    with pytest.raises(HolidaySourceError, match="two-letter ISO code, e.g. GD"):
        public_holidays.country(code)


@pytest.mark.parametrize("year", [1066, 1999, 2101, 99999, -1])
def test_a_year_outside_the_packages_rules_is_refused_with_the_range(year: int) -> None:
    grenada = public_holidays.country("GD")

    with pytest.raises(HolidaySourceError, match=f"{grenada.first_year} to {grenada.last_year}"):
        public_holidays.public_holidays(grenada, year)
