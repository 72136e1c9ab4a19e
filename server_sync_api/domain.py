"""Domain types that the services and the API share. They live below both layers: nothing
here imports either (the direction is api -> services -> domain)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Device:
    """An enrolled kiosk, as its bearer token identifies it."""

    device_id: int
    device_code: str
    entity_id: str


Role = Literal["officer", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("officer", "supervisor", "admin")


@dataclass(frozen=True)
class Officer:
    """A person who works tickets in the desk (ARCHITECTURE 4.13). No secret is held here, so
    an Officer can be logged, shown and put in a template."""

    officer_id: int
    email: str
    display_name: str
    entity_id: str
    role: Role
    active: bool
    language: str = "en"

    @property
    def can_assign_others(self) -> bool:
        """Supervisors and administrators assign tickets to anyone in scope; officers to themselves."""
        return self.role in ("supervisor", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
