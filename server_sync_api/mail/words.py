"""Every text of the officers' mail, in English and Spanish, under one key.

A key carries both languages, so a text cannot lack its Spanish; a unit test checks that both
have the same {placeholders}. Spanish follows the desk's words (a ticket is a "caso", the desk
the "mesa de casos") and addresses the officer as "usted".
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("en", "es")

TEXTS: dict[str, tuple[str, str]] = {
    # Subjects of a message about one event.
    "subject.new_ticket": (
        "New {priority}-priority ticket {number} ({title})",
        "Nuevo caso {number} de prioridad {priority} ({title})",
    ),
    "subject.breach.response": (
        "Ticket {number}: response target missed",
        "Caso {number}: plazo de respuesta incumplido",
    ),
    "subject.breach.resolution": (
        "Ticket {number}: resolution target missed",
        "Caso {number}: plazo de resolución incumplido",
    ),
    "subject.escalation.response": (
        "Ticket {number} escalated: response target missed",
        "Caso {number} escalado: plazo de respuesta incumplido",
    ),
    "subject.escalation.resolution": (
        "Ticket {number} escalated: resolution target missed",
        "Caso {number} escalado: plazo de resolución incumplido",
    ),
    "subject.reassigned.you": ("Ticket {number} assigned to you", "Caso {number} asignado a usted"),
    "subject.reassigned.other": ("Ticket {number} assigned to {name}", "Caso {number} asignado a {name}"),
    # Subjects of a digest.
    "subject.digest.one_ticket": (
        "{count} updates on ticket {number}",
        "{count} novedades en el caso {number}",
    ),
    "subject.digest": (
        "{count} updates on {tickets} tickets: {numbers}",
        "{count} novedades en {tickets} casos: {numbers}",
    ),
    "subject.digest.more": ("{numbers} and {more} more", "{numbers} y {more} más"),
    # What happened, one sentence per event.
    "event.new_ticket": ("New {priority}-priority ticket.", "Nuevo caso de prioridad {priority}."),
    "event.new_ticket.respond_by": ("Respond by {due}.", "Plazo de respuesta: {due}."),
    "event.breach.response": (
        "The response target was missed: a response was due by {due}.",
        "Se incumplió el plazo de respuesta: vencía el {due}.",
    ),
    "event.breach.resolution": (
        "The resolution target was missed: the ticket was due to be resolved by {due}.",
        "Se incumplió el plazo de resolución: el caso debía resolverse antes del {due}.",
    ),
    "event.escalation.response": (
        "Escalated: the response target was missed (a response was due by {due}).",
        "Escalado: se incumplió el plazo de respuesta (vencía el {due}).",
    ),
    "event.escalation.resolution": (
        "Escalated: the resolution target was missed (the ticket was due to be resolved by {due}).",
        "Escalado: se incumplió el plazo de resolución (el caso debía resolverse antes del {due}).",
    ),
    "event.reassigned.you": ("{by} assigned this ticket to you.", "{by} le asignó este caso."),
    "event.reassigned.other": (
        "{by} assigned this ticket to {name}, whose account is not active: please reassign it.",
        "{by} asignó este caso a {name}, cuya cuenta no está activa: reasígnelo, por favor.",
    ),
    "event.reassigned.previous": ("It was assigned to {name} before.", "Antes estaba asignado a {name}."),
    # The body around the events.
    "greeting": ("Hello {name},", "Hola, {name}:"),
    "digest.intro": (
        "{count} updates on tickets you look after:",
        "{count} novedades en casos a su cargo:",
    ),
    "ticket.heading": ("Ticket {number}", "Caso {number}"),
    "ticket.office": ("Office: {office}", "Oficina: {office}"),
    "ticket.open": ("Open the ticket in the desk", "Abrir el caso en la mesa de casos"),
    "why.assignee": (
        "You receive this because the ticket is assigned to you.",
        "Recibe este mensaje porque el caso está asignado a usted.",
    ),
    "why.supervisor": (
        "You receive this as a supervisor of the office: the ticket has no active assignee.",
        "Recibe este mensaje porque supervisa la oficina: el caso no tiene un responsable activo.",
    ),
    "why.admin": (
        "You receive this as an administrator: the ticket has no active assignee and no active "
        "supervisor covers its office.",
        "Recibe este mensaje porque administra la mesa de casos: el caso no tiene un responsable "
        "activo y ningún supervisor activo cubre su oficina.",
    ),
    "why.digest": (
        "You receive these as the assignee of the tickets, or as a supervisor or administrator over "
        "them. Several updates waiting at once come in one message.",
        "Recibe este resumen como responsable de estos casos, o porque los supervisa o administra. "
        "Las novedades pendientes a la vez llegan en un solo mensaje.",
    ),
    "signature": (
        "Government of Grenada: service feedback",
        "Gobierno de Granada: opiniones sobre los servicios",
    ),
}

# The seeded priorities, as they read inside a sentence ("a high-priority ticket", "prioridad
# alta"); a priority an administrator added keeps its own name.
PRIORITIES: dict[str, tuple[str, str]] = {
    "Critical": ("critical", "crítica"),
    "High": ("high", "alta"),
    "Medium": ("medium", "media"),
    "Low": ("low", "baja"),
}


def translator(language: str) -> Callable[..., str]:
    """`t(key, **values)`: the text of `key` in `language` (English unless 'es')."""
    index = LANGUAGES.index(language) if language in LANGUAGES else 0

    def translate(key: str, **values: object) -> str:
        return TEXTS[key][index].format(**values)

    return translate


def priority_word(name: str, language: str) -> str:
    pair = PRIORITIES.get(name)
    if pair is None:
        return name
    return pair[1] if language == "es" else pair[0]
