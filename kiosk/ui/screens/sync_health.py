from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QListWidget

from kiosk import health
from kiosk.ui import parts
from kiosk.ui.screens.base import Screen


class SyncHealthScreen(Screen):
    """Is the kiosk delivering? Online or offline since when, the queue, the last success,
    the printer, and every rejected item with the server's reason."""

    name = "sync_health"
    citizen = False
    sync_now = Signal()
    back = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._report: dict[str, Any] = {}
        self.title = parts.label("title", center=True)
        self.state = parts.label("subtitle")
        self.state.setObjectName("sync-state")
        self.captions = {
            k: parts.label("body") for k in ("queue", "oldest", "last", "printer", "problem", "device")
        }
        self.values = {k: parts.label("body") for k in self.captions}
        for k, v in self.values.items():
            v.setObjectName(f"health-{k}")
        grid = QGridLayout()
        grid.setHorizontalSpacing(32)
        for row, key in enumerate(self.captions):
            grid.addWidget(self.captions[key], row, 0)
            grid.addWidget(self.values[key], row, 1)
        grid.setColumnStretch(1, 1)
        self.rejected_caption = parts.label("subtitle")
        self.rejected = QListWidget()
        self.rejected.setObjectName("rejected-items")
        self.sync_button = parts.button(role="primary", name="sync-now")
        self.back_button = parts.button(name="back")
        self.sync_button.clicked.connect(self.sync_now)
        self.back_button.clicked.connect(self.back)
        actions = QHBoxLayout()
        actions.addWidget(self.back_button)
        actions.addStretch(1)
        actions.addWidget(self.sync_button)
        self.body.addWidget(self.title)
        self.body.addWidget(self.state)
        self.body.addLayout(grid)
        self.body.addWidget(self.rejected_caption)
        self.body.addWidget(self.rejected, 1)
        self.body.addLayout(actions)
        self.retranslate()

    def show_report(self, report: dict[str, Any]) -> None:
        """`report` is kiosk.health.report() plus "worker": running, held elsewhere or absent,
        "phase" and "printer"."""
        self._report = report
        self.retranslate()

    def retranslate(self) -> None:
        self.title.setText(self.tr("Sync health"))
        self.captions["queue"].setText(self.tr("Queue"))
        self.captions["oldest"].setText(self.tr("Oldest unsent"))
        self.captions["last"].setText(self.tr("Last successful sync"))
        self.captions["printer"].setText(self.tr("Printer"))
        self.captions["problem"].setText(self.tr("Problem"))
        self.captions["device"].setText(self.tr("Device"))
        self.rejected_caption.setText(self.tr("Rejected items"))
        self.sync_button.setText(self.tr("Sync now"))
        self.back_button.setText(self.tr("Back"))
        report = self._report
        if not report:
            return
        self.state.setText(self._state_text(report))
        self.state.setProperty(
            "role", "ok" if report.get("phase") in ("online", "syncing", "connecting") else "error"
        )
        self.state.style().polish(self.state)
        counts = report["counts"]
        self.values["queue"].setText(
            self.tr("%1 waiting, %2 delivered, %3 rejected")
            .replace("%1", str(health.waiting(counts)))
            .replace("%2", str(counts["synced"]))
            .replace("%3", str(counts["rejected"]))
        )
        self.values["oldest"].setText(_when(report.get("oldest_pending_at")) or self.tr("nothing waiting"))
        self.values["last"].setText(_when(report.get("last_success_at")) or self.tr("never"))
        printer = {
            "ok": self.tr("working"),
            "missing": self.tr("not connected"),
            "error": self.tr("failing: check paper and cable"),
            "pdf": self.tr("saving receipts as PDF files"),
        }
        printer_text = printer.get(str(report.get("printer")), str(report.get("printer")))
        if report.get("printer_problem"):
            printer_text += f" ({report['printer_problem']})"
        self.values["printer"].setText(printer_text)
        self.values["problem"].setText(report.get("problem") or self.tr("none"))
        self.values["device"].setText(
            f"{report.get('device_code') or self.tr('not enrolled')} · {report.get('server_url') or '-'}"
        )
        self.rejected.clear()
        for item in report.get("rejected", []):
            self.rejected.addItem(f"{item['reference_code']}: {item['error_code']}: {item['last_error']}")
        if not report.get("rejected"):
            self.rejected.addItem(self.tr("None"))
        self.sync_button.setEnabled(report.get("worker") == "running")

    def _state_text(self, report: dict[str, Any]) -> str:
        """The truth in one sentence, from kiosk.health.phase (report["phase"])."""
        phase = report.get("phase")
        if phase == "not_enrolled":
            return self.tr("Not enrolled: IT runs gea-kiosk enroll on this kiosk.")
        if phase == "cannot_sync":
            return self.tr("Cannot sync: %1").replace("%1", str(report.get("sync_problem") or "?"))
        if phase == "not_authorized":
            since = _when(report.get("not_authorized_since"))
            if since is None:
                return self.tr("Not authorized: the server refused this kiosk. Ask IT to re-enroll it.")
            text = self.tr("Not authorized since %1: the server refused this kiosk. Ask IT to re-enroll it.")
            return text.replace("%1", since)
        if phase == "offline":
            since = _when(report.get("offline_since")) or "?"
            return self.tr("Offline since %1. Everything is kept and sent when the network returns.").replace(
                "%1", since
            )
        if report.get("worker") == "elsewhere":
            return self.tr("Another process (gea-kiosk sync) is sending this kiosk's queue.")
        if phase == "syncing":
            return self.tr("Online: sending now.")
        if phase == "connecting":
            return self.tr("Connecting to the server…")
        return self.tr("Online.")


def _when(value: object) -> str | None:
    if not value:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")
