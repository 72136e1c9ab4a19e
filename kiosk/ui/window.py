"""The kiosk's one window: a banner and the screens, and the moves between them.

Every rule lives in CitizenFlow, StaffGate and KioskServices; this file only decides which
screen shows what, and turns clicks into calls. Slow calls (a look-up over the network, the
staff PIN's deliberately slow hash, handing a receipt to the print system) run off the UI
thread, so a tap never freezes the screen; one that takes longer than BUSY_AFTER_MS shows a
busy indicator. A local fault (kiosk.faults) in a staff action is shown to staff in their
words; in the citizen's flow it never blocks the next tap.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QHBoxLayout, QStackedWidget, QVBoxLayout, QWidget

from kiosk import citizen_flow, faults, health
from kiosk.catalog import Catalog
from kiosk.citizen_flow import CitizenFlow
from kiosk.config import KioskSettings
from kiosk.receipt import Receipt
from kiosk.services import InvalidInput, KioskServices, LookupResult, Lookups, NoCatalog, NotEnrolled
from kiosk.staff_gate import Attempt, NoPinSet, StaffGate
from kiosk.sync.keeper import KeeperState, SyncKeeper, Where
from kiosk.sync.worker import SyncState
from kiosk.ui import parts, resources
from kiosk.ui.fault_text import staff_text, staff_text_for
from kiosk.ui.i18n import LANGUAGES, LanguageSwitch
from kiosk.ui.printing import PrintOutcome, ReceiptPrinter
from kiosk.ui.screens.attract import AttractScreen
from kiosk.ui.screens.base import Screen
from kiosk.ui.screens.comment import CommentScreen
from kiosk.ui.screens.details import DetailsScreen
from kiosk.ui.screens.lookup import LookupScreen
from kiosk.ui.screens.one_moment import OneMomentScreen
from kiosk.ui.screens.receipt import ReceiptScreen
from kiosk.ui.screens.staff_home import StaffHomeScreen
from kiosk.ui.screens.staff_login import StaffLoginScreen
from kiosk.ui.screens.sync_health import SyncHealthScreen
from kiosk.ui.screens.thanks import ThankYouScreen
from kiosk.ui.screens.walk_in import WalkInScreen

log = logging.getLogger(__name__)

# A slow call shows a busy indicator once it has taken this long (below it, one would flicker).
BUSY_AFTER_MS: Final = 100
# After an internal error: "One moment, please" this long, then the attract screen.
RECOVER_MS: Final = 3_000

_ACTIVITY = {
    QEvent.Type.MouseButtonPress,
    QEvent.Type.TouchBegin,
    QEvent.Type.KeyPress,
}


@dataclass
class KioskParts:
    """What the window works with; app.py builds them, tests build them over a temp dir."""

    settings: KioskSettings
    services: KioskServices
    flow: CitizenFlow
    gate: StaffGate
    printer: ReceiptPrinter
    health: Callable[[], dict[str, Any]]  # kiosk.health.report for this data directory
    board: faults.FaultBoard = field(default_factory=faults.FaultBoard)
    lookups: Lookups | None = None  # the server's look-ups; None: the outbox alone answers
    keeper: SyncKeeper | None = None  # follows enrollment and runs the worker; None in tests


class _Bridge(QObject):
    """Carries results from worker threads onto the UI thread (queued signals)."""

    sync_state = Signal(object)
    keeper_state = Signal(object)
    looked_up = Signal(str, object, bool, bool)  # code, LookupResult or None, printable, failed
    pin_checked = Signal(int, object)  # request number, Attempt or the exception it raised
    printed = Signal(int, object)  # request number, PrintOutcome
    printer_looked = Signal()  # the print system was asked again where the printer is


def _answer(signal: Any, *args: object) -> None:
    """Emit from a worker thread; the window may have closed meanwhile (the kiosk stopping),
    and then the answer has nobody to go to."""
    try:
        signal.emit(*args)
    except RuntimeError:  # "Internal C++ object already deleted"
        log.debug("an answer arrived after the window closed")


def _staff_message(exc: BaseException) -> str:
    return staff_text(exc) if isinstance(exc, faults.LocalFault) else str(exc)


class KioskWindow(QWidget):
    exit_requested = Signal()
    # A PIN check, a print or a look for the printer has been answered and shown (tests and
    # screenshots wait on them).
    pin_answered = Signal()
    print_answered = Signal()
    printer_checked = Signal()

    def __init__(self, parts_: KioskParts, language: LanguageSwitch | None = None) -> None:
        super().__init__()
        self.parts = parts_
        self.settings = parts_.settings
        self.flow = parts_.flow
        self.language = language or LanguageSwitch()
        self._exit_allowed = False
        self._after_receipt = "attract"
        self._office = ""
        self._catalog: Catalog | None = None
        self._lookup_asked = ""  # the code whose answer the look-up screen waits for
        self._pin_request = 0  # the PIN check whose answer the login screen waits for
        self._print_request = 0  # the receipt whose print outcome the receipt screen waits for
        self._bridge = _Bridge()
        self._bridge.sync_state.connect(self._on_sync_state)
        self._bridge.keeper_state.connect(self._on_sync_state)
        self._bridge.looked_up.connect(self._on_looked_up)
        self._bridge.pin_checked.connect(self._on_pin_checked)
        self._bridge.printed.connect(self._on_printed)
        self._bridge.printer_looked.connect(self._on_printer_looked)
        self._pin_busy = _busy_timer(self, lambda: self.staff_login.show_checking())
        self._print_busy = _busy_timer(self, lambda: self.receipt.show_printing())
        self.setObjectName("kiosk-window")
        self.setWindowTitle("GEA feedback kiosk")

        self.banner = QWidget()
        self.banner.setProperty("role", "banner")
        self.banner.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.banner_text = parts.label("banner-text", wrap=False)
        self.language_button = parts.button(role="quiet", name="language")
        self.language_button.clicked.connect(lambda: self.set_language(self.language.other()))
        self.staff_button = parts.button(role="quiet", name="staff")
        self.staff_button.setIcon(resources.icon("staff.svg"))
        self.staff_button.setIconSize(QSize(40, 40))
        self.staff_button.clicked.connect(self.open_staff)
        banner_row = QHBoxLayout(self.banner)
        banner_row.setContentsMargins(32, 4, 16, 4)
        banner_row.addWidget(self.banner_text, 1)
        banner_row.addWidget(self.language_button)
        banner_row.addWidget(self.staff_button)

        self.attract = AttractScreen()
        self.thanks = ThankYouScreen()
        self.details = DetailsScreen()
        self.comment = CommentScreen()
        self.receipt = ReceiptScreen()
        self.staff_login = StaffLoginScreen()
        self.staff_home = StaffHomeScreen()
        self.walk_in = WalkInScreen()
        self.lookup = LookupScreen()
        self.sync_health = SyncHealthScreen()
        self.one_moment = OneMomentScreen()
        self.stack = QStackedWidget()
        self.screens: dict[str, Screen] = {}
        for screen in (
            self.attract,
            self.thanks,
            self.details,
            self.comment,
            self.receipt,
            self.staff_login,
            self.staff_home,
            self.walk_in,
            self.lookup,
            self.sync_health,
            self.one_moment,
        ):
            self.stack.addWidget(screen)
            self.screens[screen.name] = screen
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)

        self.idle_timer = QTimer(self)
        self.idle_timer.setSingleShot(True)
        self.idle_timer.timeout.connect(self._on_idle)
        self._recovered = QTimer(self)
        self._recovered.setSingleShot(True)
        self._recovered.timeout.connect(self.to_attract)
        self._connect_screens()
        if parts_.keeper is not None:
            parts_.keeper.add_worker_observer(self._bridge.sync_state.emit)
            parts_.keeper.add_observer(self._bridge.keeper_state.emit)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.reload_catalog()
        self.set_language(self.settings.language)
        self.show_screen("attract")

    # --- wiring -------------------------------------------------------------------------

    def _connect_screens(self) -> None:
        self.attract.rated.connect(self._on_rated)
        self.thanks.more.connect(lambda: self.show_screen("details"))
        self.thanks.complain.connect(lambda: self.open_comment(complaint=True))
        self.thanks.done.connect(self._citizen_done)
        self.details.sub_rated.connect(self._on_sub_rated)
        self.details.comment.connect(lambda: self.open_comment(complaint=False))
        self.details.complain.connect(lambda: self.open_comment(complaint=True))
        self.details.send.connect(self._citizen_done)
        self.comment.send.connect(self._on_comment)
        self.comment.back.connect(self._comment_back)
        self.receipt.print_requested.connect(self._print_receipt)
        self.receipt.finish.connect(self._receipt_finished)
        self.staff_login.pin_entered.connect(self._on_pin)
        self.staff_login.cancel.connect(self.to_attract)
        self.staff_home.walk_in.connect(lambda: self.show_screen("walk_in"))
        self.staff_home.lookup.connect(self._open_lookup)
        self.staff_home.reprint.connect(self._open_lookup)
        self.staff_home.health.connect(self.show_health)
        self.staff_home.language.connect(lambda: self.set_language(self.language.other()))
        self.staff_home.contrast.connect(self.toggle_contrast)
        self.staff_home.leave.connect(self.to_attract)
        self.staff_home.exit_kiosk.connect(self.request_exit)
        self.walk_in.submit.connect(self._on_walk_in)
        self.walk_in.cancel.connect(lambda: self.show_screen("staff_home"))
        self.lookup.lookup.connect(self._on_lookup)
        self.lookup.reprint.connect(self._reprint)
        self.lookup.back.connect(lambda: self.show_screen("staff_home"))
        self.sync_health.sync_now.connect(self._sync_now)
        self.sync_health.back.connect(lambda: self.show_screen("staff_home"))

    def reload_catalog(self) -> None:
        """The counter's services from the cached catalog. Runs again each time the attract
        screen returns, so a catalog the sync worker refreshed shows without a restart."""
        try:
            catalog = self.parts.services.catalog()
        except NoCatalog:
            self._catalog = None
            self.attract.set_services([])
            return
        except Exception:
            log.exception("the cached catalog could not be read; keeping the one on screen")
            return
        if catalog == self._catalog:
            return
        self._catalog = catalog
        services = catalog.counter_services(self.settings.services)
        self.attract.set_services(services)
        self.walk_in.set_catalog(catalog, services, self.language.language)
        self.comment.max_chars = catalog.comment_max_chars
        entities = {s.entity_id for s in services}
        self._office = catalog.entity_name(next(iter(entities))) if len(entities) == 1 else ""
        self._retranslate_banner()

    # --- navigation ---------------------------------------------------------------------

    @property
    def current(self) -> Screen:
        widget = self.stack.currentWidget()
        assert isinstance(widget, Screen)
        return widget

    def show_screen(self, name: str) -> None:
        screen = self.screens[name]
        screen.entered()
        self.stack.setCurrentWidget(screen)
        self._restart_idle()

    def to_attract(self) -> None:
        self.reload_catalog()
        self.show_screen("attract")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() in _ACTIVITY:
            self._restart_idle()
        return super().eventFilter(watched, event)

    def _restart_idle(self) -> None:
        if self.current in (self.attract, self.one_moment):
            self.idle_timer.stop()
            return
        seconds = self.settings.idle_timeout_s if self.current.citizen else self.settings.staff_timeout_s
        self.idle_timer.start(seconds * 1000)

    def _on_idle(self) -> None:
        """The citizen walked away (or staff forgot to leave): keep what was given, finish the
        submission as it stands, and show the attract screen to the next person."""
        self._keep_and_finish()
        self.to_attract()

    def _keep_and_finish(self) -> None:
        """Keep what the citizen typed and finish the submission as it stands (idle, the staff
        button, closing). Never raises: whatever fails, the screen must move on, so the next
        person never sees this one's answers. A row left open is finished by the start-up
        recovery."""
        typed = self.comment.typed() if self.current is self.comment else ""
        try:
            if typed and self.flow.current is not None:
                self.flow.comment(typed, self.comment.complaint)
        except Exception:
            log.exception("what the citizen typed could not be saved")
        self._finish()

    def _finish(self) -> None:
        try:
            self.flow.finish()
        except faults.LocalFault as exc:
            log.warning("the submission could not be finished now (%s); the next start finishes it", exc.code)
        except Exception:
            log.exception("the submission could not be finished now; the next start finishes it")

    def finish_citizen(self) -> None:
        """The kiosk is stopping: what the citizen had given is queued (or, if the disk will
        not take it now, finished by the next start's recovery)."""
        self._keep_and_finish()

    def recover(self, where: str = "") -> None:
        """An internal error on the GUI thread (kiosk.ui.crash): keep what the citizen gave,
        show "One moment, please", then the attract screen with a fresh citizen flow. Never
        raises, whatever state the error left the window in."""
        log.warning("recovering from an internal error in %s", where or "the kiosk")
        self._keep_and_finish()
        try:
            self.flow = CitizenFlow(self.parts.services, thank_you_s=self.flow.thank_you_s)
            self.parts.flow = self.flow
            self.show_screen("one_moment")
        except Exception:
            log.exception("the recovery screen could not be shown")
        self._recovered.start(RECOVER_MS)

    # --- the citizen ----------------------------------------------------------------------

    def _on_rated(self, service_id: str, rating: int) -> None:
        try:
            answer = self.flow.rate(service_id, rating)
        except faults.LocalFault as exc:
            # The machine is in the way (a full disk, a stuck database): the citizen is told
            # the truth on the thank-you screen, and the next tap tries again.
            log.warning("rating not recorded: %s", exc.code)
            self.thanks.show_not_saved(self.flow.thank_you_s)
            self.show_screen("thanks")
            return
        except Exception:  # a catalog problem or a bug: say so, never look broken
            log.exception("rating not recorded")
            self.attract.hint.setText(self.tr("Sorry, this kiosk cannot take ratings now. Please ask staff."))
            return
        if answer is None:
            return  # a tap during the thank-you pause
        self.details.clear()
        self.thanks.show_answer(answer, self.flow.thank_you_s)
        self.show_screen("thanks")

    def _on_sub_rated(self, which: str, value: int) -> None:
        if self.flow.current is None:
            return
        try:
            self.flow.add_details(**{which: value})
        except Exception:
            log.exception("sub-rating %s not recorded", which)

    def open_comment(self, complaint: bool) -> None:
        self.show_screen("comment")
        self.comment.start(complaint, self.language.language)

    def _on_comment(self, text: str, complaint: bool) -> None:
        if self.flow.current is None:
            self.to_attract()
            return
        try:
            self.flow.comment(text, complaint)
        except Exception:
            log.exception("comment not saved")
            self.comment.show_error(self.tr("Sorry, this could not be saved. Please ask staff for help."))
            return
        if complaint:
            self._citizen_done()
        else:
            self.show_screen("details")

    def _comment_back(self) -> None:
        self.show_screen("details" if not self.comment.complaint else "thanks")

    def _citizen_done(self) -> None:
        """A submission that becomes a ticket gets the receipt offer; others end here."""
        answer = self.flow.current
        try:
            receipt = self.flow.receipt_for(answer) if answer is not None and answer.gets_ticket else None
        except Exception:
            log.exception("no receipt for %s", answer.submission.reference_code if answer else None)
            receipt = None
        if receipt is None:
            self._finish()
            self.to_attract()
            return
        self._after_receipt = "attract"
        self.show_receipt(receipt)

    def show_receipt(self, receipt: Receipt) -> None:
        self.show_screen("receipt")
        # A print still on its way is an earlier citizen's: its outcome is not this receipt's.
        self._print_request += 1
        self._print_busy.stop()
        printer = self.parts.printer
        self.receipt.show_receipt(receipt, can_print=printer.state() != "missing", to_file=printer.saves_pdf)
        if printer.state() == "missing":
            self._look_for_printer()  # plugged in since the last look?

    def _look_for_printer(self) -> None:
        """Ask the print system again where the printer is, off the GUI thread (a print system
        that hangs must not freeze the screen); the screen showing is updated on the answer."""
        printer, bridge = self.parts.printer, self._bridge

        def work() -> None:
            try:
                printer.refresh()
            except Exception:  # the answer below still ends the wait
                log.exception("the printer could not be looked for")
            _answer(bridge.printer_looked)

        threading.Thread(target=work, name="printer-look", daemon=True).start()

    def _on_printer_looked(self) -> None:
        printer = self.parts.printer
        if self.current is self.receipt and self.receipt.receipt is not None:
            can_print = printer.state() != "missing"
            if can_print and not self.receipt.print_button.isVisible():
                self.receipt.show_receipt(self.receipt.receipt, can_print=True, to_file=printer.saves_pdf)
        elif self.current is self.sync_health:
            self.refresh_health()
        self.printer_checked.emit()

    def _print_receipt(self) -> None:
        """Hand the receipt to the print system on a thread of its own: a print system that
        takes its time (a network printer, CUPS busy) never freezes the screen."""
        receipt = self.receipt.receipt
        if receipt is None:
            return
        self._print_request += 1
        request, printer, bridge = self._print_request, self.parts.printer, self._bridge
        self.receipt.print_button.setEnabled(False)
        self._print_busy.start()

        def work() -> None:
            # print_receipt never raises: its outcome says what went wrong.
            _answer(bridge.printed, request, printer.print_receipt(receipt))

        threading.Thread(target=work, name="print", daemon=True).start()

    def _on_printed(self, request: int, outcome: object) -> None:
        if request != self._print_request:
            return
        self._print_busy.stop()
        assert isinstance(outcome, PrintOutcome)
        if not outcome.ok:
            log.warning("receipt not printed: %s", outcome.message)
        if self.current is self.receipt:
            self.receipt.show_print_result(outcome.ok)
        self.print_answered.emit()

    def _receipt_finished(self) -> None:
        if self._after_receipt == "attract":
            self._finish()
            self.to_attract()
        else:
            self.show_screen(self._after_receipt)

    # --- staff --------------------------------------------------------------------------

    def open_staff(self) -> None:
        """The staff button. Whatever the citizen was doing is finished as it stands."""
        self._keep_and_finish()
        self._pin_request += 1  # an answer still on its way from an earlier visit is dropped
        self._pin_busy.stop()
        self.show_screen("staff_login")
        try:
            pin_hash = self.parts.gate.pin_hash()
            waiting = self.parts.gate.locked_for() if pin_hash is not None else 0.0
        except faults.LocalFault as exc:
            log.warning("staff mode cannot check a PIN now: %s", exc.code)
            self.staff_login.show_fault(staff_text(exc))
            return
        if pin_hash is None:
            self.staff_login.show_no_pin(str(NoPinSet()))
        elif waiting > 0:
            self.staff_login.show_locked(waiting)
        else:
            self.staff_login.unlock()

    def _on_pin(self, entered: str) -> None:
        """Check the PIN on a thread of its own: the hash is slow on purpose (about half a
        second), and the screen must answer taps meanwhile."""
        self._pin_request += 1
        request, gate, bridge = self._pin_request, self.parts.gate, self._bridge
        self.staff_login.pad.set_enabled_for_input(False)
        self._pin_busy.start()

        def work() -> None:
            answer: object
            try:
                answer = gate.try_pin(entered)
            except Exception as exc:  # NoPinSet, a local fault, or a bug: the GUI thread decides
                answer = exc
            _answer(bridge.pin_checked, request, answer)

        threading.Thread(target=work, name="pin-check", daemon=True).start()

    def _on_pin_checked(self, request: int, answer: object) -> None:
        if request != self._pin_request:
            return  # staff left the login screen, or asked again, since
        self._pin_busy.stop()
        try:
            self._show_pin_answer(answer)
        finally:
            self.pin_answered.emit()

    def _show_pin_answer(self, answer: object) -> None:
        if self.current is not self.staff_login:
            return
        if isinstance(answer, NoPinSet):
            self.staff_login.show_no_pin(str(answer))
        elif isinstance(answer, faults.LocalFault):
            log.warning("the PIN could not be checked: %s", answer.code)
            self.staff_login.show_fault(staff_text(answer))
        elif isinstance(answer, BaseException):
            raise answer  # a bug: the crash guard logs it and the kiosk recovers
        else:
            assert isinstance(answer, Attempt)
            if answer.ok:
                self.show_screen("staff_home")
            elif answer.locked_for_s > 0:
                self.staff_login.show_locked(answer.locked_for_s)
            else:
                self.staff_login.pad.set_enabled_for_input(True)
                self.staff_login.show_wrong(answer.failures)

    def _on_walk_in(self, values: dict[str, Any]) -> None:
        try:
            submission = self.parts.services.log_walk_in(
                values["service_id"],
                values["rating"],
                values["description"],
                category_id=values["category_id"],
                priority_id=values["priority_id"],
            )
        except (InvalidInput, NoCatalog, NotEnrolled, faults.LocalFault) as exc:
            if isinstance(exc, faults.LocalFault):
                log.warning("walk-in grievance not saved: %s", exc.code)
            self.walk_in.show_error(_staff_message(exc))
            return
        try:
            receipt = citizen_flow.receipt_for(self.parts.services, submission.reference_code)
        except faults.LocalFault as exc:
            # The grievance is saved; only its receipt cannot be read back now. The form starts
            # afresh and says so, so staff do not log it a second time.
            log.warning("no receipt for %s: %s", submission.reference_code, exc.code)
            self.walk_in.entered()
            self.walk_in.show_error(
                self.tr("The grievance is logged as %1, but its receipt cannot be shown now. %2")
                .replace("%1", submission.reference_code)
                .replace("%2", staff_text(exc))
            )
            return
        self._after_receipt = "staff_home"
        if receipt is not None:
            self.show_receipt(receipt)
        else:
            self.show_screen("staff_home")

    def _open_lookup(self) -> None:
        self._lookup_asked = ""
        self.show_screen("lookup")

    def _on_lookup(self, code: str) -> None:
        self.lookup.show_busy()
        self._lookup_asked = code
        services, lookups = self.parts.services, self.parts.lookups

        def work() -> None:
            found: LookupResult | None = None
            printable = failed = False
            fault: faults.LocalFault | None = None
            try:
                found = services.lookup(code, lookups)
                printable = found is not None and services.has_receipt(found.reference_code)
            except faults.LocalFault as exc:
                log.warning("look-up of %s failed: %s", code, exc.code)
                fault, failed = exc, True
            except Exception:  # a look-up must never take the kiosk down
                log.exception("look-up of %s failed", code)
                failed = True
            _answer(self._bridge.looked_up, code, fault or found, printable, failed)

        threading.Thread(target=work, name="lookup", daemon=True).start()

    def _on_looked_up(self, code: str, found: object, printable: bool, failed: bool) -> None:
        if self.current is not self.lookup or code != self._lookup_asked:
            return  # an answer to an earlier question, or staff have left the screen
        if isinstance(found, faults.LocalFault):
            self.lookup.show_error(staff_text(found))
            return
        self.lookup.show_result(
            code.strip().upper(),
            found if isinstance(found, LookupResult) else None,
            printable=printable,
            failed=failed,
        )

    def _reprint(self, reference_code: str) -> None:
        try:
            receipt = citizen_flow.receipt_for(self.parts.services, reference_code)
        except (NoCatalog, faults.LocalFault) as exc:
            self.lookup.show_error(_staff_message(exc))
            return
        if receipt is not None:
            self._after_receipt = "staff_home"
            self.show_receipt(receipt)

    def show_health(self) -> None:
        self.show_screen("sync_health")
        self.refresh_health()
        self._look_for_printer()  # a printer unplugged since the last receipt shows in a moment

    def refresh_health(self) -> None:
        """The sync health screen, from the stored health, the keeper and the live worker."""
        keeper = self.parts.keeper
        where = keeper.state if keeper is not None else KeeperState(None, Where.NONE)
        worker = keeper.worker if keeper is not None else None
        try:
            report = self.parts.health()
            report["rejected"] = [
                {"reference_code": r.reference_code, "error_code": r.error_code, "last_error": r.last_error}
                for r in self.parts.services.rejected()
            ]
            live_state = worker.state if worker is not None and where.where is Where.RUNNING else None
        except faults.LocalFault as exc:
            # Without the database there is little to show, but staff must read why.
            log.warning("sync health not read: %s", exc.code)
            self.sync_health.show_report(
                {
                    "phase": "cannot_sync",
                    "sync_problem": staff_text(exc),
                    "problem": staff_text(exc),
                    "counts": _NO_COUNTS,
                }
            )
            return
        printer = self.parts.printer
        printer_state = printer.state()
        current = self.parts.board.current()
        self.sync_health.show_report(
            health.for_staff(
                report,
                worker=where.where.value,
                sync_problem=where.problem,
                live=live_state,
                printer="pdf" if printer_state == "ok" and printer.saves_pdf else printer_state,
                printer_problem=printer.last_problem,
                problem=None if current is None else staff_text_for(current.code, current.message),
            )
        )

    def _on_sync_state(self, state: object) -> None:
        if not isinstance(state, SyncState | KeeperState):
            return
        if self.current is self.attract:
            # Enrolled (or the catalog refreshed) while the attract screen waits for a citizen.
            self.reload_catalog()
        elif self.current is self.sync_health:
            self.refresh_health()

    def _sync_now(self) -> None:
        if self.parts.keeper is not None:
            self.parts.keeper.wake()

    # --- look and language -----------------------------------------------------------------

    def set_language(self, language: str) -> None:
        self.language.set_language(language)
        for keyboard in (self.comment.keyboard, self.walk_in.keyboard, self.lookup.keyboard):
            keyboard.set_language(language)
        self._retranslate_banner()

    def toggle_contrast(self) -> None:
        self.settings.high_contrast = not self.settings.high_contrast
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.setStyleSheet(resources.stylesheet(self.settings.high_contrast, self.settings.text_scale))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.LanguageChange:
            self._retranslate_banner()
        super().changeEvent(event)

    def _retranslate_banner(self) -> None:
        self.banner_text.setText(self._office or self.tr("Citizen feedback"))
        self.language_button.setText(LANGUAGES[self.language.other()])
        self.staff_button.setAccessibleName(self.tr("Staff"))
        self.staff_button.setToolTip(self.tr("Staff"))

    # --- leaving ------------------------------------------------------------------------

    def request_exit(self) -> None:
        """Staff asked to leave kiosk mode: the only way this window closes in kiosk mode."""
        self._keep_and_finish()
        self._exit_allowed = True
        self.exit_requested.emit()
        self.close()

    def allow_close(self, allowed: bool = True) -> None:
        """A windowed kiosk (--windowed, the demo) closes like any window."""
        self._exit_allowed = allowed

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        if not self._exit_allowed:
            event.ignore()  # Alt+F4 on a kiosk: nothing happens
            return
        self._keep_and_finish()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        super().closeEvent(event)


_NO_COUNTS: Final = {"open": 0, "pending": 0, "sending": 0, "synced": 0, "rejected": 0}


def _busy_timer(parent: QObject, show: Callable[[], None]) -> QTimer:
    """Shows a busy indicator once a slow call has taken BUSY_AFTER_MS (started with the
    call, stopped by its answer)."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(BUSY_AFTER_MS)
    timer.timeout.connect(show)
    return timer
