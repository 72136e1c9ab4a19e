"""The desk's words in English and Spanish, as the kiosk speaks both.

Templates call `_("English text")`; the English text is the key, so a template reads as the
page does and a missing translation shows English rather than a code. A test checks that
every string the templates and the desk's code pass to `_` has its Spanish here.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"

SPANISH: dict[str, str] = {
    # Frame
    "Ticket desk": "Mesa de casos",
    "Skip to main content": "Ir al contenido principal",
    "Queue": "Cola",
    "Your account": "Su cuenta",
    "Sign out": "Cerrar sesión",
    "Signed in as {name}": "Sesión iniciada como {name}",
    "Government of Grenada: service feedback": "Gobierno de Granada: opiniones sobre los servicios",
    "Español": "Español",
    "English": "English",
    "Language": "Idioma",
    # Sign-in
    "Sign in": "Iniciar sesión",
    "Sign in to the ticket desk": "Inicie sesión en la mesa de casos",
    "Email address": "Correo electrónico",
    "Password": "Contraseña",
    "Sign in with your government account": "Iniciar sesión con su cuenta del gobierno",
    "or with a local account": "o con una cuenta local",
    "There is a problem": "Hay un problema",
    "The email address or the password is not right.": (
        "El correo electrónico o la contraseña no son correctos."
    ),
    "Too many attempts from here. Wait {seconds} seconds, then try again.": (
        "Demasiados intentos desde aquí. Espere {seconds} segundos y vuelva a intentarlo."
    ),
    "This account cannot sign in with the identity provider yet. Ask an administrator to add you.": (
        "Esta cuenta aún no puede entrar con el proveedor de identidad. Pida a un administrador que le añada."
    ),
    "Your identity provider did not confirm your email address, so it cannot be linked to an account.": (
        "Su proveedor de identidad no confirmó su correo electrónico, así que no puede vincularse "
        "a una cuenta."
    ),
    "Sign-in through the identity provider failed. Try again.": (
        "El inicio de sesión con el proveedor de identidad falló. Vuelva a intentarlo."
    ),
    "Enter your email address.": "Escriba su correo electrónico.",
    "Enter your password.": "Escriba su contraseña.",
    "You were signed out.": "Ha cerrado la sesión.",
    "Your session ended. Sign in again.": "Su sesión terminó. Inicie sesión de nuevo.",
    # Not configured, errors
    "The ticket desk is not set up": "La mesa de casos no está configurada",
    "IT must set GEA_SERVER_SESSION_SECRET on the server before officers can sign in. Kiosks and "
    "the public pages work without it.": (
        "El equipo de TI debe definir GEA_SERVER_SESSION_SECRET en el servidor antes de que el personal "
        "pueda entrar. Los quioscos y las páginas públicas funcionan sin ella."
    ),
    "Page not found": "Página no encontrada",
    "There is no ticket {number} that you can see. Check the number.": (
        "No hay ningún caso {number} que usted pueda ver. Revise el número."
    ),
    "There is nothing at this address.": "No hay nada en esta dirección.",
    "This form has expired": "Este formulario ha caducado",
    "Reload the page and try again. Nothing was changed.": (
        "Recargue la página y vuelva a intentarlo. No se cambió nada."
    ),
    "Back to the queue": "Volver a la cola",
    "Something went wrong": "Algo salió mal",
    "Nothing was changed. Quote request {request_id} to IT.": (
        "No se cambió nada. Indique la solicitud {request_id} al equipo de TI."
    ),
    "The database cannot be reached right now. Nothing was lost; try again shortly.": (
        "No se puede acceder a la base de datos ahora. No se perdió nada; vuelva a intentarlo en breve."
    ),
    # Queue
    "Open tickets": "Casos abiertos",
    "Filter": "Filtrar",
    "Clear filters": "Quitar filtros",
    "Status": "Estado",
    "Priority": "Prioridad",
    "Category": "Categoría",
    "Service": "Servicio",
    "Any": "Cualquiera",
    "Assigned": "Asignado",
    "Assigned to me": "Asignados a mí",
    "Unassigned": "Sin asignar",
    "Anyone": "Cualquiera",
    "Breached only": "Solo vencidos",
    "Created from": "Creado desde",
    "Created to": "Creado hasta",
    "Ticket": "Caso",
    "Title": "Título",
    "Office": "Oficina",
    "Age": "Antigüedad",
    "Respond by": "Responder antes de",
    "Resolve by": "Resolver antes de",
    "Assignee": "Responsable",
    "Nobody": "Nadie",
    "No tickets match these filters.": "Ningún caso coincide con estos filtros.",
    "Next page": "Página siguiente",
    "First page": "Primera página",
    "Download as CSV": "Descargar en CSV",
    "Breached": "Vencido",
    "Reopened": "Reabierto",
    "Met": "Cumplido",
    "{duration} overdue": "{duration} de retraso",
    "in {duration}": "en {duration}",
    "{duration} ago": "hace {duration}",
    "Filters were not applied": "No se aplicaron los filtros",
    # Ticket
    "Ticket {number}": "Caso {number}",
    "What the citizen said": "Lo que dijo el ciudadano",
    "Rating": "Valoración",
    "Service quality": "Calidad del servicio",
    "Staff behaviour": "Trato del personal",
    "Waiting time": "Tiempo de espera",
    "Cleanliness": "Limpieza",
    "Comment": "Comentario",
    "No comment.": "Sin comentario.",
    "Channel": "Canal",
    "Reference": "Referencia",
    "Kiosk": "Quiosco",
    "Recorded": "Registrado",
    "Arrived": "Recibido",
    "Created by staff, not from feedback.": "Creado por el personal, no a partir de una opinión.",
    "Service level": "Nivel de servicio",
    "Response": "Respuesta",
    "Resolution": "Resolución",
    "Target": "Objetivo",
    "Done": "Hecho",
    "Not yet": "Aún no",
    "History": "Historial",
    "Internal note": "Nota interna",
    "Public reply": "Respuesta pública",
    "created the ticket": "creó el caso",
    "changed the status from {old} to {new}": "cambió el estado de {old} a {new}",
    "changed the priority from {old} to {new}": "cambió la prioridad de {old} a {new}",
    "assigned it to {new}": "lo asignó a {new}",
    "unassigned it from {old}": "retiró la asignación de {old}",
    "reassigned it from {old} to {new}": "lo reasignó de {old} a {new}",
    "{kind}: {old} → {new}": "{kind}: {old} → {new}",
    "Actions": "Acciones",
    "Assign": "Asignar",
    "Take it": "Tomarlo",
    "Give it up": "Dejarlo",
    "Assign to": "Asignar a",
    "Change status": "Cambiar estado",
    "Move to": "Pasar a",
    "Resolution notes": "Notas de resolución",
    "Save resolution notes": "Guardar notas de resolución",
    "Change priority": "Cambiar prioridad",
    "Change category": "Cambiar categoría",
    "Targets are computed again from the new priority or category.": (
        "Los plazos se calculan de nuevo con la nueva prioridad o categoría."
    ),
    "Add a note": "Añadir una nota",
    "Note": "Nota",
    "Who sees it": "Quién la ve",
    "Internal: officers only": "Interna: solo el personal",
    "Public reply: the citizen sees it on their status page": (
        "Respuesta pública: el ciudadano la ve en su página de estado"
    ),
    "Add note": "Añadir nota",
    "Save": "Guardar",
    "The change was saved.": "El cambio se guardó.",
    "The note was added.": "La nota se añadió.",
    "Write the note first.": "Escriba la nota primero.",
    "This ticket was changed by someone else since you opened it. Reload it to see the change, "
    "then try again.": (
        "Otra persona cambió este caso desde que lo abrió. Recárguelo para ver el cambio y vuelva "
        "a intentarlo."
    ),
    "Reload the ticket": "Recargar el caso",
    "Unknown": "Desconocido",
    "Response target missed": "Plazo de respuesta incumplido",
    "Resolution target missed": "Plazo de resolución incumplido",
    # Account
    "Change your password": "Cambiar su contraseña",
    "Current password": "Contraseña actual",
    "New password": "Contraseña nueva",
    "New password again": "Repita la contraseña nueva",
    "Change password": "Cambiar contraseña",
    "Your password was changed. Your other sessions were signed out.": (
        "Su contraseña se cambió. Se cerraron sus otras sesiones."
    ),
    "The current password is not right.": "La contraseña actual no es correcta.",
    "The two new passwords are not the same.": "Las dos contraseñas nuevas no coinciden.",
    "You sign in through the identity provider; your password is managed there.": (
        "Usted entra con el proveedor de identidad; su contraseña se gestiona allí."
    ),
    "Recent sign-ins": "Inicios de sesión recientes",
    "When": "Cuándo",
    "How": "Cómo",
    "Outcome": "Resultado",
    "Role": "Función",
    "Entity": "Entidad",
    "officer": "funcionario",
    "supervisor": "supervisor",
    "admin": "administrador",
}

_CATALOGS = {"en": {}, "es": SPANISH}


def translator(language: str) -> Callable[..., str]:
    catalog = _CATALOGS.get(language, {})

    def translate(text: str, **values: object) -> str:
        translated = catalog.get(text, text)
        return translated.format(**values) if values else translated

    return translate


def choose(*candidates: str | None, accept_language: str = "") -> str:
    """The first supported language among the candidates, else the browser's, else English."""
    for candidate in candidates:
        if candidate in LANGUAGES:
            return candidate
    for part in accept_language.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE
