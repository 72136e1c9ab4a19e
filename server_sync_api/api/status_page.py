"""The small, accessible status page a receipt's QR code opens on a phone.

Plain HTML with inline CSS: no script, no external assets, readable at 320 px wide and at
200% text size, AA contrast. Everything shown is escaped. Its one form is the citizen's "not
resolved" (services/appeal.py), a plain POST with server-side errors in the GOV.UK style.
English or Spanish (`lang`), with the public form's catalog (public/words.py); a link at the
top opens the same page in the other language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from html import escape
from urllib.parse import quote
from zoneinfo import ZoneInfo

from server_sync_api.protocol import REFERENCE_CODE_PATTERN, SubmissionStatus
from server_sync_api.public import words
from server_sync_api.services import lookup_throttle, waits
from server_sync_api.services.appeal import REASON_MAX_CHARS, Offer
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

_REFERENCE = re.compile(REFERENCE_CODE_PATTERN)
# The status page's own address in a language: English is the default a link need not name.
_QUERY = {"en": "", "es": "?lang=es"}
_MONTHS_ES = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio",
    "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip

_STYLE = """
body{margin:0;font:1.125rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1a1a1a;background:#fff}
main{max-width:34rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.5rem;margin:0 0 1rem}
.status{font-size:1.375rem;font-weight:700;padding:.75rem 1rem;border-left:.5rem solid #005a9c;
background:#eef4fa;margin:0 0 .5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:1.25rem 0}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
@media (max-width:30rem){dl{grid-template-columns:1fr;gap:0}dd{margin:0 0 .75rem}}
h2{font-size:1.25rem;margin:1.75rem 0 .5rem}
ol{margin:0;padding-left:1.5rem}li{margin:0 0 .5rem}
.replies{list-style:none;padding:0}
.replies li{border-left:.25rem solid #6b6b6b;padding:.25rem 0 .25rem .75rem;margin:0 0 1rem}
.when{display:block;font-size:1rem;color:#4a4a4a}
.reply{margin:.25rem 0 0;white-space:pre-line;overflow-wrap:anywhere}
footer{max-width:34rem;margin:0 auto;padding:0 1.25rem 1.25rem;font-size:1rem;color:#4a4a4a}
a{color:#1d4f91}a:focus,button:focus,textarea:focus,.error-summary:focus{outline:3px solid #ffbf47;
outline-offset:0;box-shadow:inset 0 0 0 2px #0b0c0c}
.panel{border:.25rem solid #00703c;padding:.75rem 1rem;margin:1rem 0}
.panel h2{margin:0 0 .25rem}
.appeal{border-top:.125rem solid #b1b4b6;margin-top:1.75rem;padding-top:.75rem}
label{display:block;font-size:1.25rem;font-weight:700;margin:.5rem 0 .25rem}
.hint{color:#4a4a4a;margin:0 0 .5rem}
textarea{display:block;box-sizing:border-box;width:100%;min-height:8rem;font:inherit;padding:.5rem;
border:2px solid #0b0c0c;border-radius:0}
.field-error textarea{border-color:#b10e1e}
.field-error{border-left:.3rem solid #b10e1e;padding-left:.75rem}
.error-message{color:#b10e1e;font-weight:700;margin:0 0 .5rem}
button{font:inherit;font-weight:600;color:#fff;background:#00703c;border:0;border-radius:0;
box-shadow:0 2px 0 #002d18;padding:.5rem 1rem;margin:1rem 0 0;cursor:pointer}
.error-summary{border:.3rem solid #b10e1e;padding:.75rem 1rem;margin:0 0 1.25rem}
.error-summary h2{margin:0 0 .5rem}.error-summary ul{margin:0;padding-left:1.25rem}
.error-summary a{color:#b10e1e;font-weight:700}
.lang{display:block;text-align:right;margin:0 0 .5rem}
.visually-hidden{position:absolute!important;width:1px;height:1px;margin:0;padding:0;overflow:hidden;
clip:rect(0 0 0 0);clip-path:inset(50%);border:0;white-space:nowrap}
"""


def _page(title: str, body: str, lang: str, switch: str | None) -> str:
    """A whole page; `switch` is the address of the same page in the other language."""
    _ = words.translator(lang)
    other = "en" if lang == "es" else "es"
    link = (
        f'<a class="lang" href="{escape(switch)}" lang="{other}" hreflang="{other}">'
        f"{'English' if lang == 'es' else 'Español'}</a>"
        if switch
        else ""
    )
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{link}{body}</main>"
        f"<footer>{escape(_('Government of Grenada: service feedback'))}</footer></body></html>"
    )


def _switch(reference_code: str, lang: str) -> str:
    """The status page of this reference in the other language (or of nothing, if it is not a
    reference: the link then goes to a not-found page in that language)."""
    other = "en" if lang == "es" else "es"
    return f"/s/{quote(reference_code[:60], safe='')}?lang={other}"


def _when(moment: datetime, timezone: str, lang: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    if lang == "es":
        return f"{local.day} de {_MONTHS_ES[local.month - 1]} de {local.year}, {local:%H:%M}"
    return f"{local:%d %B %Y, %H:%M}".lstrip("0")


def _time(moment: datetime, timezone: str, lang: str, css_class: str = "") -> str:
    """A <time> element: the date people read, the exact instant for machines."""
    attributes = f' class="{css_class}"' if css_class else ""
    return f'<time{attributes} datetime="{moment.isoformat()}">{escape(_when(moment, timezone, lang))}</time>'


def _label(code: str, _: Callable[..., str]) -> str:
    """The seeded statuses' words; a status an administrator added reads as its code."""
    return _(_LABELS[code]) if code in _LABELS else code.replace("_", " ").capitalize()


def render(
    found: SubmissionStatus,
    timezone: str,
    *,
    lang: str = "en",
    offer: Offer | None = None,
    reason: str = "",
    error: str | None = None,
    confirmed: bool = False,
) -> str:
    """The status page. With an `offer` that is open, the "not resolved" form (`reason` is what
    the citizen typed, `error` what was wrong with it, in English: an error summary first, which
    takes focus); `confirmed` shows that their appeal reopened the complaint."""
    _ = words.translator(lang)
    label = _label(found.status, _)
    rows = [
        (_("Reference"), found.reference_code or "-"),
        (_("Received"), _when(found.received_at, timezone, lang)),
    ]
    if found.ticket_number:
        rows.append((_("Ticket"), found.ticket_number))
    rows.append((_("Last update"), _when(found.last_updated, timezone, lang)))
    details = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    body = _error_summary(_(error), _) if error else ""
    body += (
        f"<h1>{escape(_('Your feedback'))}</h1>"
        f'<p class="status" role="status">{escape(label)}</p>'
        f"<p>{escape(_(STATUS_MEANINGS.get(found.status, OTHER_STATUS_MEANING)))}</p>"
    )
    if confirmed:
        body += (
            f'<div class="panel" role="status"><h2>{escape(_("We have reopened your complaint"))}</h2>'
            f"<p>{escape(_(REOPENED_THANKS))}</p></div>"
        )
    body += f"<dl>{details}</dl>"
    if found.replies:
        replies = "".join(
            f'<li>{_time(reply.at, timezone, lang, "when")}<p class="reply">{escape(reply.text)}</p></li>'
            for reply in found.replies
        )
        body += (
            f'<section aria-labelledby="replies"><h2 id="replies">{escape(_("Replies from the office"))}</h2>'
            f'<ol class="replies">{replies}</ol></section>'
        )
    if found.history:
        states = "".join(
            f"<li>{escape(_label(change.status, _))}: {_time(change.at, timezone, lang)}</li>"
            for change in found.history
        )
        body += (
            f'<section aria-labelledby="history"><h2 id="history">{escape(_("History"))}</h2>'
            f"<ol>{states}</ol></section>"
        )
    if offer is not None and offer.open and found.reference_code:
        body += _appeal_form(found.reference_code, offer, timezone, lang, reason, error)

    title = f"{label}: {found.reference_code}"
    switch = _switch(found.reference_code or "", lang)
    return _page(f"{_('Error')}: {title}" if error else title, body, lang, switch)


REOPENED_THANKS = (
    "Thank you for telling us it is not resolved. The office will look at it again and you can "
    "follow it on this page."
)


def _error_summary(error: str, _: Callable[..., str]) -> str:
    """A GOV.UK-style error summary: first in the page, focused on load (no script needed), its
    link going to the field."""
    return (
        '<div class="error-summary" tabindex="-1" autofocus aria-labelledby="error-summary-title">'
        f'<h2 id="error-summary-title">{escape(_("There is a problem"))}</h2>'
        f'<div role="alert"><ul><li><a href="#reason">{escape(error)}</a></li></ul></div></div>'
    )


def _appeal_form(
    reference_code: str, offer: Offer, timezone: str, lang: str, reason: str, error: str | None
) -> str:
    _ = words.translator(lang)
    until = (
        escape(_("You can do this once, until {date}.")).format(date=_time(offer.closes_at, timezone, lang))
        if offer.closes_at is not None
        else escape(_("You can do this once."))
    )
    described = "reason-hint reason-error" if error else "reason-hint"
    error_line = (
        f'<p id="reason-error" class="error-message"><span class="visually-hidden">{escape(_("Error"))}:'
        f"</span> {escape(_(error))}</p>"
        if error
        else ""
    )
    invalid = ' aria-invalid="true"' if error else ""
    limit = f"{REASON_MAX_CHARS:,}"
    return (
        f'<form class="appeal" method="post" action="/s/{escape(reference_code)}/not-resolved" '
        'aria-labelledby="reason-label" novalidate>'
        f'<input type="hidden" name="lang" value="{lang}">'
        f'<div class="field{" field-error" if error else ""}">'
        f'<label id="reason-label" for="reason">{escape(_("Is your complaint not resolved? Tell us why"))}'
        "</label>"
        f'<p id="reason-hint" class="hint">'
        f"{escape(_('The office will reopen your complaint and look at it again.'))} {until} "
        f"{escape(_('Up to {limit} characters. Do not include personal details.', limit=limit))}</p>"
        f"{error_line}"
        # The newline after the start tag is the parser's to drop, so one the citizen typed first stays.
        f'<textarea id="reason" name="reason" rows="6" aria-describedby="{described}"{invalid}>\n'
        f"{escape(reason)}</textarea></div>"
        f'<button type="submit">{escape(_("Reopen my complaint"))}</button>'
        "</form>"
    )


def render_refused(reference_code: str, heading: str, message: str, lang: str = "en") -> str:
    """A "not resolved" that was not accepted: why (English keys, translated here), and the way
    back to the status page."""
    _ = words.translator(lang)
    href = f"/s/{escape(reference_code)}{_QUERY[lang]}"
    back = (
        f'<p><a href="{href}">{escape(_("Back to your complaint"))}</a></p>'
        if _REFERENCE.fullmatch(reference_code)
        else ""
    )
    body = f"<h1>{escape(_(heading))}</h1><p>{escape(_(message))}</p>{back}"
    return _page(_(heading), body, lang, _switch(reference_code, lang))


NOT_FOUND_WAIT = (
    "Check it against your receipt. A complaint made at a kiosk that was offline appears here once "
    "the kiosk reconnects, usually within the day."
)


def render_not_found(reference_code: str, lang: str = "en") -> str:
    _ = words.translator(lang)
    shown = f"<strong>{escape(reference_code[:60])}</strong>"
    body = (
        f"<h1>{escape(_('Reference not found'))}</h1>"
        f"<p>{escape(_('We have no submission with the reference {reference}.')).format(reference=shown)}</p>"
        f"<p>{escape(_(NOT_FOUND_WAIT))}</p>"
    )
    return _page(_("Reference not found"), body, lang, _switch(reference_code, lang))


THROTTLED_WHY = (
    "Too many reference codes were looked up from this network in the last {window} minutes, so "
    "we have paused look-ups from it for a while."
)
THROTTLED_NOT_LOST = (
    "Your reference is not lost: your feedback and its status are kept, and this page will show "
    "them when you try again."
)


def render_throttled(retry_after_s: int, lang: str = "en") -> str:
    """Too many unknown references were looked up from this network (services/lookup_throttle.py).
    It names no reference (not even in a language link: it has none), so a known code and an
    unknown one get the same page."""
    _ = words.translator(lang)
    minutes = waits.minutes(retry_after_s)
    wait = (
        _("Try again in 1 minute.") if minutes == 1 else _("Try again in {minutes} minutes.", minutes=minutes)
    )
    body = (
        f"<h1>{escape(_('Please try again later'))}</h1>"
        f"<p>{escape(_(THROTTLED_WHY, window=lookup_throttle.WINDOW_MINUTES))}</p>"
        f"<p>{escape(wait)}</p>"
        f"<p>{escape(_(THROTTLED_NOT_LOST))}</p>"
    )
    return _page(_("Please try again later"), body, lang, None)
