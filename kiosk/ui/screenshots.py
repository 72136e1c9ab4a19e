"""`gea-kiosk screenshots --out DIR`: a PNG of every screen and state, in each language, at the
reference 1920x1080, from a throwaway kiosk on the built-in demo catalog. Used to review the
look, for docs/screenshots, and by the tests (every screen must render)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

from kiosk import demo, faults
from kiosk.citizen_flow import CitizenFlow
from kiosk.config import KioskSettings
from kiosk.local_db import sync_health
from kiosk.staff_gate import FREE_ATTEMPTS
from kiosk.ui import resources
from kiosk.ui.app import REFERENCE_SIZE, build_parts, qt_app
from kiosk.ui.fault_text import staff_text
from kiosk.ui.window import KioskWindow

Step = Callable[[KioskWindow], None]


def _attract(service_id: str | None) -> Step:
    def step(window: KioskWindow) -> None:
        window.to_attract()
        if service_id is not None:
            window.attract.choose(service_id)

    return step


def _then(first: Step, screen: str) -> Step:
    def step(window: KioskWindow) -> None:
        first(window)
        window.show_screen(screen)

    return step


def _rated(rating: int) -> Step:
    def step(window: KioskWindow) -> None:
        window.to_attract()
        window.attract.choose("SVC-001")
        window.attract.faces.buttons[rating - 1].click()

    return step


def _comment(complaint: bool) -> Step:
    def step(window: KioskWindow) -> None:
        _rated(2 if complaint else 4)(window)
        window.open_comment(complaint)
        window.comment.text.setPlainText(
            "The queue took two hours and the form was missing."
            if complaint
            else "Quick and friendly, thank you."
        )

    return step


def _receipt(window: KioskWindow) -> None:
    _rated(1)(window)
    window.open_comment(True)
    window.comment.text.setPlainText("Nobody answered my question about the renewal fee.")
    window.comment.send_button.click()


def _health(state: str) -> Step:
    def step(window: KioskWindow) -> None:
        engine = window.parts.services.engine
        now = datetime.now(UTC)
        sync_health.clear_not_authorized(engine)
        if state == "online":
            sync_health.record_success(engine, now - timedelta(minutes=2))
        elif state == "offline":
            # Offline since a little after its last success, as a real outage reads.
            sync_health.record_success(engine, now - timedelta(hours=3, minutes=14))
            sync_health.record_offline(engine, now - timedelta(hours=3, minutes=12), "server unreachable")
        else:
            sync_health.record_not_authorized(engine, "device revoked")
        window.show_health()

    return step


def _not_saved(window: KioskWindow) -> None:
    """What a citizen reads when the tap could not be written (a full disk)."""
    window.to_attract()
    window.thanks.show_not_saved(0.0)
    window.show_screen("thanks")


def _staff_disk_full(window: KioskWindow) -> None:
    """Staff trying to log a walk-in on a kiosk whose disk is full."""
    _walk_in_described(window)
    window.walk_in.show_error(staff_text(faults.DiskFull()))


def _lockout(window: KioskWindow) -> None:
    for _ in range(FREE_ATTEMPTS):
        window.parts.gate.try_pin("000000")
    window.open_staff()


def _staff(then: Callable[[KioskWindow], None] | None = None) -> Step:
    def step(window: KioskWindow) -> None:
        window.show_screen("staff_home")
        if then is not None:
            then(window)

    return step


def _walk_in_described(window: KioskWindow) -> None:
    window.show_screen("walk_in")
    window.walk_in.service.select("SVC-001")
    window.walk_in.rating.buttons[1].click()
    window.walk_in.next_button.click()
    window.walk_in.description.setPlainText("Application fee charged twice; citizen has both receipts.")


def _lookup(window: KioskWindow) -> None:
    _receipt(window)
    code = window.receipt.code.text()
    window.receipt.finish_button.click()
    window.show_screen("lookup")
    window.lookup.field.setText(code)
    window.lookup.show_result(code, window.parts.services.lookup_local(code))


STATES: dict[str, Step] = {
    "01-attract": _attract("SVC-001"),
    "02-attract-service-picker": _attract(None),
    "03-thank-you": _rated(4),
    "04-thank-you-low-rating": _rated(1),
    "05-details": _then(_rated(4), "details"),
    "06-comment": _comment(False),
    "07-complaint": _comment(True),
    "08-receipt": _receipt,
    "09-staff-login": lambda w: w.open_staff(),
    "10-staff-lockout": _lockout,
    "11-staff-home": _staff(),
    "12-walk-in": _staff(lambda w: w.show_screen("walk_in")),
    "13-walk-in-description": _walk_in_described,
    "14-status-lookup": _lookup,
    "15-sync-health-online": _health("online"),
    "16-sync-health-offline": _health("offline"),
    "17-sync-health-not-authorized": _health("not_authorized"),
    "18-thank-you-not-saved": _not_saved,
    "19-one-moment": lambda w: w.show_screen("one_moment"),
    "20-staff-disk-full": _staff_disk_full,
}


def take(out: Path, languages: tuple[str, ...] = ("en", "es"), high_contrast: bool = True) -> list[Path]:
    """Write every state's PNG to `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="gea-screens-") as scratch:
        data_dir = Path(scratch) / "kiosk"
        demo.prepare_offline(data_dir)
        settings = KioskSettings(print_to_pdf=Path(scratch) / "receipts")
        app = qt_app(settings)
        variants = [(lang, False) for lang in languages]
        if high_contrast:
            variants.append(("en", True))
        for language, contrast in variants:
            settings.language = language  # type: ignore[assignment]
            settings.high_contrast = contrast
            app.setStyleSheet("")
            app.setStyleSheet(_sheet(settings))
            parts = build_parts(data_dir, settings)
            # Screenshots do not wait out the thank-you pause (they show the screen after it).
            parts.flow = CitizenFlow(parts.services, thank_you_s=0.0)
            window = KioskWindow(parts)
            window.resize(*REFERENCE_SIZE)
            window.allow_close()
            window.show()
            for name, step in STATES.items():
                if contrast and name not in ("01-attract", "08-receipt", "10-staff-lockout"):
                    continue
                _reset_lockout(window)
                step(window)
                _settle(app)
                suffix = "-high-contrast" if contrast else ""
                path = out / f"{name}-{language}{suffix}.png"
                window.grab().save(str(path))
                written.append(path)
            window.close()
            window.deleteLater()
            _settle(app)
            parts.services.engine.dispose()
    return written


def _sheet(settings: KioskSettings) -> str:
    return resources.stylesheet(settings.high_contrast, settings.text_scale)


def _reset_lockout(window: KioskWindow) -> None:
    window.parts.gate.reset()
    window.staff_login.unlock()
    window.flow.finish()


def _settle(app: QApplication) -> None:
    for _ in range(3):
        QCoreApplication.processEvents()
        app.sendPostedEvents()
