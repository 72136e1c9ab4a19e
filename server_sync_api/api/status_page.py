"""The small, accessible status page a receipt's QR code opens on a phone.

Plain HTML with inline CSS: no script, no external assets, readable at 320 px wide and at
200% text size, AA contrast. Everything shown is escaped.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from server_sync_api.protocol import SubmissionStatus
from server_sync_api.services.status import OTHER_STATUS_MEANING, STATUS_MEANINGS

_LABELS = {
    "received": "Received",
    "open": "Open",
    "in_progress": "In progress",
    "waiting": "Waiting for information",
    "resolved": "Resolved",
    "closed": "Closed",
    "reopened": "Reopened",
}

_STYLE = """
body{margin:0;font:1.125rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1a1a1a;background:#fff}
main{max-width:34rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.5rem;margin:0 0 1rem}
.status{font-size:1.375rem;font-weight:700;padding:.75rem 1rem;border-left:.5rem solid #005a9c;
background:#eef4fa;margin:0 0 .5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:1.25rem 0}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
h2{font-size:1.25rem;margin:1.75rem 0 .5rem}
ol{margin:0;padding-left:1.5rem}li{margin:0 0 .5rem}
.replies{list-style:none;padding:0}
.replies li{border-left:.25rem solid #6b6b6b;padding:.25rem 0 .25rem .75rem;margin:0 0 1rem}
.when{display:block;font-size:1rem;color:#4a4a4a}
.reply{margin:.25rem 0 0;white-space:pre-line;overflow-wrap:anywhere}
footer{max-width:34rem;margin:0 auto;padding:0 1.25rem 1.25rem;font-size:1rem;color:#4a4a4a}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main><footer>Government of Grenada: service feedback</footer></body></html>"
    )


def _when(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%d %B %Y, %H:%M}".lstrip("0")


def _time(moment: datetime, timezone: str, css_class: str = "") -> str:
    """A <time> element: the date people read, the exact instant for machines."""
    attributes = f' class="{css_class}"' if css_class else ""
    return f'<time{attributes} datetime="{moment.isoformat()}">{escape(_when(moment, timezone))}</time>'


def _label(code: str) -> str:
    """The seeded statuses' words; a status an administrator added reads as its code."""
    return _LABELS.get(code) or code.replace("_", " ").capitalize()


def render(found: SubmissionStatus, timezone: str) -> str:
    label = _label(found.status)
    rows = [("Reference", found.reference_code or "-"), ("Received", _when(found.received_at, timezone))]
    if found.ticket_number:
        rows.append(("Ticket", found.ticket_number))
    rows.append(("Last update", _when(found.last_updated, timezone)))
    details = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    body = (
        "<h1>Your feedback</h1>"
        f'<p class="status" role="status">{escape(label)}</p>'
        f"<p>{escape(STATUS_MEANINGS.get(found.status, OTHER_STATUS_MEANING))}</p>"
        f"<dl>{details}</dl>"
    )
    if found.replies:
        replies = "".join(
            f'<li>{_time(reply.at, timezone, "when")}<p class="reply">{escape(reply.text)}</p></li>'
            for reply in found.replies
        )
        body += (
            '<section aria-labelledby="replies"><h2 id="replies">Replies from the office</h2>'
            f'<ol class="replies">{replies}</ol></section>'
        )
    if found.history:
        states = "".join(
            f"<li>{escape(_label(change.status))}: {_time(change.at, timezone)}</li>"
            for change in found.history
        )
        body += f'<section aria-labelledby="history"><h2 id="history">History</h2><ol>{states}</ol></section>'

    return _page(f"{label}: {found.reference_code}", body)


def render_not_found(reference_code: str) -> str:
    body = (
        "<h1>Reference not found</h1>"
        f"<p>We have no submission with the reference <strong>{escape(reference_code[:60])}</strong>.</p>"
        "<p>Check it against your receipt. A complaint made at a kiosk that was offline appears "
        "here once the kiosk reconnects, usually within the day.</p>"
    )
    return _page("Reference not found", body)
