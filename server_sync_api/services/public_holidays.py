"""A country's public holidays from the `holidays` package (maintained upstream, yearly releases).

The package is the source so that nobody here keeps a list of Easter dates: Grenada's Good
Friday, Easter Monday, Whit Monday, Corpus Christi and Carnival move every year. Its "observed"
days are kept (a holiday on a Sunday gives the Monday off, and offices close that Monday), and
the names are the country's default language (English for Grenada). Nothing here touches the
database; `services/calendars.py` stores what this returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version

import holidays
from holidays import registry

PACKAGE_VERSION = version("holidays")  # named in errors: a newer release may know more
# sla_holidays.name is VARCHAR(200); two holidays on one date come joined by the package.
NAME_LIMIT = 200
_SMALL_WORDS = frozenset({"And", "The", "Of", "Da"})


class HolidaySourceError(ValueError):
    """An unknown country or a year the package has no rules for; the message says what to use."""


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166 alpha-2, e.g. GD
    name: str  # in English, e.g. Grenada: the default calendar's name
    first_year: int
    last_year: int


@dataclass(frozen=True)
class PublicHoliday:
    day: date
    name: str


def _countries() -> dict[str, tuple[str, str]]:
    """ISO alpha-2 and alpha-3 code -> (alpha-2, English name), for every country the package has."""
    known: dict[str, tuple[str, str]] = {}
    for class_name, alpha2, alpha3, *_ in registry.COUNTRIES.values():
        # The registry names each country by its class: "AntiguaAndBarbuda" -> "Antigua and Barbuda".
        first, *rest = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", class_name).split()
        name = " ".join([first, *(w.lower() if w in _SMALL_WORDS else w for w in rest)])
        known[alpha2] = known[alpha3] = (alpha2, name)
    return known


def country(code: str) -> Country:
    found = _countries().get(code.strip().upper())
    if found is None:
        raise HolidaySourceError(
            f"--country {code!r} is not a country the holidays package "
            f"{PACKAGE_VERSION} knows: use its two-letter ISO code, e.g. GD for Grenada"
        )
    alpha2, name = found
    calendar = holidays.country_holidays(alpha2)
    return Country(code=alpha2, name=name, first_year=calendar.start_year, last_year=calendar.end_year)


def public_holidays(where: Country, year: int) -> list[PublicHoliday]:
    """The country's public holidays in `year`, observed days included, in date order."""
    if not where.first_year <= year <= where.last_year:
        raise HolidaySourceError(
            f"--year {year}: the holidays package {PACKAGE_VERSION} has {where.name}'s holidays "
            f"for {where.first_year} to {where.last_year}; give a year in that range"
        )
    found = holidays.country_holidays(where.code, years=year, observed=True)
    days = [PublicHoliday(day=day, name=_short(name)) for day, name in sorted(found.items())]
    if not days:
        raise HolidaySourceError(
            f"the holidays package {PACKAGE_VERSION} lists no public holidays for {where.name} "
            f"in {year}; nothing was loaded"
        )
    return days


def _short(name: str) -> str:
    name = " ".join(name.split())
    return name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…"
