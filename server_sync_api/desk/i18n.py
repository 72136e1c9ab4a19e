"""The desk's words in English and Spanish, as the kiosk speaks both.

Templates call `_("English text")`; the English text is the key, so a template reads as the
page does and a missing translation shows English rather than a code. A test checks that
every string the templates and the desk's code pass to `_` has its Spanish here.
"""

from __future__ import annotations

from collections.abc import Callable

from server_sync_api.api.language import DEFAULT_LANGUAGE, LANGUAGES, choose
from server_sync_api.api.language import translator as language_translator

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "SPANISH", "choose", "translator"]

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
    "Paused while waiting, since {when}": "En pausa mientras espera, desde {when}",
    "Deadlines count in the working hours of the calendar “{name}”.": (
        "Los plazos cuentan en el horario de trabajo del calendario «{name}»."
    ),
    "Deadlines count 24 hours a day, 7 days a week.": (
        "Los plazos cuentan las 24 horas, los 7 días de la semana."
    ),
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
    "said it is not resolved:": "dijo que no está resuelto:",
    "the citizen": "el ciudadano",
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
    # Administration
    "Administration": "Administración",
    "Officers": "Funcionarios",
    "Kiosks": "Quioscos",
    "Every officer": "Todos los funcionarios",
    "Officers: {count}. Disabled: {disabled}.": "Funcionarios: {count}. Desactivados: {disabled}.",
    "Name": "Nombre",
    "Signs in with": "Entra con",
    "Last sign-in": "Último acceso",
    "State": "Estado",
    "This is you": "Es usted",
    "Disable": "Desactivar",
    "Enable": "Activar",
    "Reset password": "Restablecer contraseña",
    "active": "activo",
    "disabled": "desactivado",
    "never": "nunca",
    "password": "contraseña",
    "identity provider": "proveedor de identidad",
    "both": "ambos",
    "none yet": "ninguno aún",
    "Add an officer": "Añadir un funcionario",
    "Full name": "Nombre completo",
    "Choose an entity": "Elija una entidad",
    "An officer works the tickets of their entity and the entities under it; a supervisor also "
    "assigns them; an administrator sees every ticket and manages officers and kiosks.": (
        "Un funcionario atiende los casos de su entidad y de las entidades que dependen de ella; un "
        "supervisor además los asigna; un administrador ve todos los casos y gestiona funcionarios y "
        "quioscos."
    ),
    "Initial password (optional)": "Contraseña inicial (opcional)",
    "Initial password again": "Repita la contraseña inicial",
    "At least 12 characters. Leave both password fields empty for an account that signs in through "
    "the identity provider only.": (
        "Al menos 12 caracteres. Deje vacíos los dos campos de contraseña para una cuenta que entra "
        "solo con el proveedor de identidad."
    ),
    "Add officer": "Añadir funcionario",
    "Officer {email} added; they sign in with a password.": (
        "Funcionario {email} añadido; entra con contraseña."
    ),
    "Officer {email} added; they sign in through the identity provider, linked at their first "
    "sign-in by their verified email.": (
        "Funcionario {email} añadido; entra con el proveedor de identidad, vinculado en su primer "
        "acceso por su correo electrónico verificado."
    ),
    "No identity provider is configured here, so they cannot sign in until one is, or until you "
    "reset their password.": (
        "Aquí no hay ningún proveedor de identidad configurado, así que no podrá entrar hasta que lo "
        "haya o hasta que usted restablezca su contraseña."
    ),
    "Officer {email} disabled: their desk sessions have ended and they cannot sign in.": (
        "Funcionario {email} desactivado: sus sesiones terminaron y no puede entrar."
    ),
    "Officer {email} was already disabled; nothing changed.": (
        "El funcionario {email} ya estaba desactivado; no se cambió nada."
    ),
    "Officer {email} enabled: they can sign in again.": (
        "Funcionario {email} activado: puede volver a entrar."
    ),
    "New password set for {email}: their desk sessions have ended, and failed sign-ins before it "
    "no longer slow them down.": (
        "Nueva contraseña para {email}: sus sesiones terminaron, y los intentos fallidos anteriores ya "
        "no le hacen esperar."
    ),
    "Enter the officer's email address.": "Escriba el correo electrónico del funcionario.",
    "Choose the entity they work for.": "Elija la entidad para la que trabaja.",
    "Choose a role.": "Elija una función.",
    "The two passwords are not the same.": "Las dos contraseñas no coinciden.",
    "An officer with the email {email} exists already: see the list of officers.": (
        "Ya existe un funcionario con el correo {email}: vea la lista de funcionarios."
    ),
    "You cannot disable your own account: ask another administrator.": (
        "No puede desactivar su propia cuenta: pídaselo a otro administrador."
    ),
    "This is your own account: change your password on Your account page, which asks for the "
    "current one.": "Es su propia cuenta: cambie su contraseña en la página Su cuenta, que pide la actual.",
    "There is no such officer. Check the list of officers.": (
        "No existe ese funcionario. Revise la lista de funcionarios."
    ),
    "Write the name on one line, without control characters.": (
        "Escriba el nombre en una sola línea, sin caracteres de control."
    ),
    "The name must not be empty: give the officer's full name, e.g. 'Ana Pérez'.": (
        "El nombre no puede estar vacío: escriba el nombre completo del funcionario, p. ej. 'Ana Pérez'."
    ),
    "The name must be at most 200 characters.": "El nombre debe tener como máximo 200 caracteres.",
    "The password must be at least 12 characters long (a few unrelated words make a good one).": (
        "La contraseña debe tener al menos 12 caracteres (unas cuantas palabras sin relación entre sí "
        "son una buena contraseña)."
    ),
    "The password must be at most 1024 characters long.": (
        "La contraseña debe tener como máximo 1024 caracteres."
    ),
    "The password must not be the email address or the part of it before the @.": (
        "La contraseña no puede ser el correo electrónico ni la parte anterior a la @."
    ),
    "The password must not be one character repeated.": (
        "La contraseña no puede ser un solo carácter repetido."
    ),
    "Reset the password of {email}": "Restablecer la contraseña de {email}",
    "Back to the officers": "Volver a los funcionarios",
    "Their desk sessions end at once, and failed sign-ins before the new password no longer slow "
    "them down. Give them the new password in person or by phone, never by email.": (
        "Sus sesiones terminan de inmediato, y los intentos fallidos anteriores a la nueva contraseña "
        "ya no le hacen esperar. Entréguele la nueva contraseña en persona o por teléfono, nunca por "
        "correo electrónico."
    ),
    "At least 12 characters, not their email address, not one character repeated.": (
        "Al menos 12 caracteres, distinta de su correo electrónico y no un solo carácter repetido."
    ),
    "Set the new password": "Guardar la nueva contraseña",
    "The fleet": "La flota",
    "{count} kiosks, {flagged} need attention.": "{count} quioscos, {flagged} necesitan atención.",
    "Code": "Código",
    "Last seen": "Última conexión",
    "Version": "Versión",
    "Attention": "Atención",
    "pending": "pendiente",
    "revoked": "revocado",
    "awaiting enrollment": "esperando el registro",
    "Re-enroll": "Volver a registrar",
    "Revoke": "Revocar",
    "Re-enroll gives a kiosk a new enrollment code: for a revoked kiosk, a reinstalled one or a "
    "lost token. Its current token keeps working until the new code is used.": (
        "Volver a registrar da a un quiosco un nuevo código de registro: para un quiosco revocado, "
        "reinstalado o que perdió su token. Su token actual sigue funcionando hasta que se use el "
        "nuevo código."
    ),
    "No kiosks yet. Add the first one below.": "Aún no hay quioscos. Añada el primero abajo.",
    "Add a kiosk": "Añadir un quiosco",
    "Where it stands": "Dónde está",
    "For example: Passport office, counter 2.": "Por ejemplo: Oficina de pasaportes, ventanilla 2.",
    "Entity it serves": "Entidad a la que sirve",
    "Add kiosk": "Añadir quiosco",
    "Enter where the kiosk stands, e.g. 'Passport office, counter 2'.": (
        "Escriba dónde está el quiosco, p. ej. 'Oficina de pasaportes, ventanilla 2'."
    ),
    "Choose the entity the kiosk serves.": "Elija la entidad a la que sirve el quiosco.",
    "There is no kiosk {code}. Check the list of kiosks.": (
        "No hay ningún quiosco {code}. Revise la lista de quioscos."
    ),
    "Enrollment code for kiosk {code}": "Código de registro del quiosco {code}",
    "Kiosk {code} added. Enroll it with this code.": "Quiosco {code} añadido. Regístrelo con este código.",
    "Kiosk {code} can be enrolled again; its old token stops working when this code is used.": (
        "El quiosco {code} puede registrarse de nuevo; su token anterior deja de funcionar cuando se "
        "use este código."
    ),
    "Enrollment code": "Código de registro",
    "Single use, valid until {when}.": "De un solo uso, válido hasta {when}.",
    "This code is shown only once.": "Este código se muestra una sola vez.",
    "Type it on the kiosk now or write it down; it cannot be shown again. If it is lost, re-enroll "
    "the kiosk for a new one.": (
        "Escríbalo ahora en el quiosco o anótelo; no se puede volver a mostrar. Si se pierde, vuelva a "
        "registrar el quiosco para obtener uno nuevo."
    ),
    "On the kiosk": "En el quiosco",
    "Type the code on the kiosk's enrollment screen, or run:": (
        "Escriba el código en la pantalla de registro del quiosco, o ejecute:"
    ),
    "Back to the kiosks": "Volver a los quioscos",
    "Revoke kiosk {code}": "Revocar el quiosco {code}",
    "The kiosk's next request is refused: it stops sending feedback until it is enrolled again.": (
        "La próxima solicitud del quiosco se rechaza: deja de enviar opiniones hasta que se registre "
        "de nuevo."
    ),
    "Yes, revoke kiosk {code}": "Sí, revocar el quiosco {code}",
    "Revoke kiosk": "Revocar quiosco",
    "Cancel": "Cancelar",
    "Tick the box to confirm, then revoke the kiosk.": (
        "Marque la casilla para confirmar y luego revoque el quiosco."
    ),
    "Kiosk {code} revoked: its next request is refused. To bring it back, re-enroll it.": (
        "Quiosco {code} revocado: su próxima solicitud se rechaza. Para recuperarlo, vuelva a registrarlo."
    ),
    # Dashboard
    "Dashboard": "Panel",
    "The tickets and feedback of {entity} and the offices under it.": (
        "Los casos y las opiniones de {entity} y de las oficinas que dependen de ella."
    ),
    "Charts of the last {days} days run from {first} to {last}.": (
        "Los gráficos de los últimos {days} días van del {first} al {last}."
    ),
    "Satisfaction by service": "Satisfacción por servicio",
    "Average rating from 1 to 5 of the feedback that arrived in the last {days} days. Feedback flagged "
    "as misuse is counted but left out of the averages and rates.": (
        "Valoración media de 1 a 5 de las opiniones recibidas en los últimos {days} días. Las opiniones "
        "marcadas como uso indebido se cuentan, pero no entran en las medias ni en los porcentajes."
    ),
    "Average rating by service over the last {days} days, from 1 to 5: {count} services rated, the "
    "highest {best} at {best_rating}, the lowest {worst} at {worst_rating}.": (
        "Valoración media por servicio en los últimos {days} días, de 1 a 5: {count} servicios valorados; "
        "la más alta, {best} con {best_rating}; la más baja, {worst} con {worst_rating}."
    ),
    "No feedback arrived in the last {days} days.": "No se recibieron opiniones en los últimos {days} días.",
    "Satisfaction by service, last {days} days": "Satisfacción por servicio, últimos {days} días",
    "Submissions": "Envíos",
    "Average rating": "Valoración media",
    "Satisfied (4 or 5)": "Satisfechos (4 o 5)",
    "Complaints": "Quejas",
    "Flagged as misuse": "Marcadas como uso indebido",
    "No ratings": "Sin valoraciones",
    "No services in your scope.": "No hay servicios en su ámbito.",
    "SLA compliance by day": "Cumplimiento del SLA por día",
    "Of the tickets resolved each day, the share with no SLA breach recorded. Days with nothing "
    "resolved have no column.": (
        "De los casos resueltos cada día, la proporción sin ningún incumplimiento del SLA registrado. "
        "Los días sin casos resueltos no tienen columna."
    ),
    "Tickets resolved within their SLA, by day, from {first} to {last}: {rate}% of the {resolved} "
    "tickets resolved in that time.": (
        "Casos resueltos dentro de su SLA, por día, del {first} al {last}: el {rate}% de los {resolved} "
        "casos resueltos en ese periodo."
    ),
    "No tickets were resolved in the last {days} days.": (
        "No se resolvió ningún caso en los últimos {days} días."
    ),
    "Tickets by day, last {days} days": "Casos por día, últimos {days} días",
    "Day": "Día",
    "Created": "Creados",
    "Resolved": "Resueltos",
    "Resolved within SLA": "Resueltos dentro del SLA",
    "SLA compliance": "Cumplimiento del SLA",
    "Average time to resolve": "Tiempo medio de resolución",
    "Closed": "Cerrados",
    "Queue by office": "Cola por oficina",
    "Tickets not yet resolved or closed, and the SLA breaches recorded against them.": (
        "Casos aún no resueltos ni cerrados, y los incumplimientos del SLA registrados en ellos."
    ),
    "Open tickets and SLA breaches by office: {open} open tickets and {breaches} breaches in {count} "
    "offices.": (
        "Casos abiertos e incumplimientos del SLA por oficina: {open} casos abiertos y {breaches} "
        "incumplimientos en {count} oficinas."
    ),
    "SLA breaches": "Incumplimientos del SLA",
    "No open tickets.": "No hay casos abiertos.",
    "Open tickets by office": "Casos abiertos por oficina",
    "Critical or High": "Crítica o alta",
    "Average age": "Antigüedad media",
    "Most urgent tickets": "Casos más urgentes",
    "The {count} open tickets with the nearest deadline": (
        "Los {count} casos abiertos con el plazo más cercano"
    ),
    "On track": "En plazo",
    "Next deadline": "Próximo plazo",
    "QR codes": "Códigos QR",
    "Every scan and every feedback given through each code since it was made. Feedback flagged as "
    "misuse is left out.": (
        "Todos los escaneos y todas las opiniones recibidas con cada código desde que se creó. Las "
        "opiniones marcadas como uso indebido no se cuentan."
    ),
    "QR codes of your services": "Códigos QR de sus servicios",
    "No QR codes for your services.": "Sus servicios no tienen códigos QR.",
    "QR code": "Código QR",
    "Place": "Lugar",
    "Scans": "Escaneos",
    "Feedback": "Opiniones",
    "Feedback per 100 scans": "Opiniones por cada 100 escaneos",
}

_CATALOGS = {"en": {}, "es": SPANISH}


def translator(language: str) -> Callable[..., str]:
    return language_translator(_CATALOGS.get(language, {}))
