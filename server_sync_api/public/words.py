"""The public pages' words in Spanish (the English text is the key; see api/language.py). The
register is the kiosk's: "usted". A test checks that every string the templates and the routes
pass to `_` has its Spanish here."""

from __future__ import annotations

from collections.abc import Callable

from server_sync_api.api import language
from server_sync_api.services import appeal, status

SPANISH: dict[str, str] = {
    # Frame
    "Government of Grenada": "Gobierno de Granada",
    "Skip to main content": "Ir al contenido principal",
    "Service feedback. We do not ask for your name, and we keep no personal details.": (
        "Opiniones sobre los servicios. No le pedimos su nombre ni guardamos datos personales."
    ),
    "Error": "Error",
    "There is a problem": "Hay un problema",
    # The form
    "How was {service}?": "¿Cómo fue su experiencia con {service}?",
    "Give feedback on a service": "Opine sobre un servicio",
    "It takes a minute. Only the first question is required.": (
        "Le llevará un minuto. Solo la primera pregunta es obligatoria."
    ),
    "Which service did you use?": "¿Qué servicio utilizó?",
    "Choose a service": "Elija un servicio",
    "Overall, how was the service?": "En general, ¿cómo fue el servicio?",
    "Choose one.": "Elija una opción.",
    "Very good": "Muy bueno",
    "Good": "Bueno",
    "Neither good nor poor": "Ni bueno ni malo",
    "Poor": "Malo",
    "Very poor": "Muy malo",
    "Tell us more (optional)": "Cuéntenos más (opcional)",
    "For each, 1 is very poor and 5 is very good.": "En cada caso, 1 es muy malo y 5 es muy bueno.",
    "Quality of the service": "Calidad del servicio",
    "Staff courtesy and helpfulness": "Amabilidad y ayuda del personal",
    "Waiting time": "Tiempo de espera",
    "Cleanliness of the office": "Limpieza de la oficina",
    "Comments (optional)": "Comentarios (opcional)",
    "Up to {limit} characters. Do not include personal details such as your name or phone number.": (
        "Hasta {limit} caracteres. No incluya datos personales como su nombre o su teléfono."
    ),
    "I want to make a complaint": "Quiero presentar una queja",
    "An officer will look into it, and you can follow it with your reference.": (
        "Un funcionario la estudiará y usted podrá seguirla con su referencia."
    ),
    "Confirm you are a person": "Confirme que es una persona",
    "Several people on your network sent feedback in the last hour, so we ask for this. Tick the box: "
    "your phone does a short calculation. Nothing about you is collected.": (
        "Desde su red se enviaron varias opiniones en la última hora, por eso se lo pedimos. Marque la "
        "casilla: su teléfono hará un cálculo breve. No se recoge ningún dato suyo."
    ),
    "This check needs JavaScript. Turn it on, or come back in an hour, when it is not needed.": (
        "Esta comprobación necesita JavaScript. Actívelo, o vuelva dentro de una hora, cuando ya no "
        "haga falta."
    ),
    "Send feedback": "Enviar opinión",
    # Problems with the answers (services/public_feedback.py and the routes)
    "Choose how you rate the service, from 1 (very poor) to 5 (very good).": (
        "Elija cómo valora el servicio, de 1 (muy malo) a 5 (muy bueno)."
    ),
    "Choose a number from 1 to 5.": "Elija un número del 1 al 5.",
    "Your comment is {length} characters; shorten it to {limit} or fewer.": (
        "Su comentario tiene {length} caracteres; acórtelo a {limit} o menos."
    ),
    "Your comment has a character we cannot store. Remove it and send again.": (
        "Su comentario tiene un carácter que no podemos guardar. Quítelo y envíelo de nuevo."
    ),
    "Choose the service you used.": "Elija el servicio que utilizó.",
    "Tick the box to confirm you are a person, then send again.": (
        "Marque la casilla para confirmar que es una persona y vuelva a enviar."
    ),
    "The check that you are a person did not pass or has expired. Tick the box again.": (
        "La comprobación de que es una persona no se superó o ha caducado. Marque la casilla de nuevo."
    ),
    # Confirmation
    "Feedback received": "Opinión recibida",
    "Your reference": "Su referencia",
    "Thank you for telling us about {service}.": "Gracias por contarnos su experiencia con {service}.",
    "What happens next": "Qué pasa ahora",
    "Your complaint was passed to {office} as ticket {ticket}. An officer will look into it.": (
        "Su queja se envió a {office} como caso {ticket}. Un funcionario la estudiará."
    ),
    "Keep your reference: with it you can see where your complaint is and read the office's replies.": (
        "Guarde su referencia: con ella puede ver en qué punto está su queja y leer las respuestas de "
        "la oficina."
    ),
    "Your rating is counted in the service's results, which the office reviews.": (
        "Su valoración se suma a los resultados del servicio, que la oficina revisa."
    ),
    "Keep your reference if you want to check on it later.": (
        "Guarde su referencia si quiere consultarla más adelante."
    ),
    "Follow your feedback": "Seguir su opinión",
    # Refusals and errors
    "Please try again later": "Inténtelo más tarde",
    "Five pieces of feedback came from your network in the last hour, the most we take from one "
    "network, so that nobody can flood the results.": (
        "Desde su red llegaron cinco opiniones en la última hora, el máximo que aceptamos de una misma "
        "red, para que nadie pueda inundar los resultados."
    ),
    "You can send feedback again after {time} (in {minutes} min).": (
        "Podrá enviar opiniones de nuevo después de las {time} (dentro de {minutes} min)."
    ),
    "Your comment": "Su comentario",
    "It was not sent. Copy it if you want to send it later.": (
        "No se envió. Cópielo si quiere enviarlo más tarde."
    ),
    "This poster is no longer in use": "Este cartel ya no se usa",
    "The office has retired this poster, so it does not take feedback any more.": (
        "La oficina retiró este cartel, así que ya no recibe opiniones."
    ),
    "You can still give feedback on {service}:": "Aún puede opinar sobre {service}:",
    "{service} is no longer offered here, so this poster does not take feedback any more.": (
        "{service} ya no se ofrece aquí, así que este cartel ya no recibe opiniones."
    ),
    "You can give feedback on the services that are offered:": (
        "Puede opinar sobre los servicios que se ofrecen:"
    ),
    "We do not know this code": "No conocemos este código",
    "No poster of ours has this address. If you typed it, check it against the poster and try again, "
    "or scan the poster's QR code with your phone's camera.": (
        "Ninguno de nuestros carteles tiene esta dirección. Si la escribió, compárela con el cartel y "
        "vuelva a intentarlo, o escanee el código QR del cartel con la cámara de su teléfono."
    ),
    "You can also give feedback on any service here:": "También puede opinar sobre cualquier servicio aquí:",
    "This form was already used": "Este formulario ya se usó",
    "Open the page again to send new feedback.": "Abra la página de nuevo para enviar otra opinión.",
    "Sorry, we cannot take feedback right now": "Lo sentimos, ahora no podemos recibir opiniones",
    "Nothing was sent. Try again in a few minutes.": "No se envió nada. Inténtelo de nuevo en unos minutos.",
    "Sorry, something went wrong": "Lo sentimos, algo salió mal",
    "Page not found": "Página no encontrada",
    "Check the address, or scan the poster again.": "Compruebe la dirección o vuelva a escanear el cartel.",
    "We could not read the form": "No pudimos leer el formulario",
    "Open the page again and send it.": "Abra la página de nuevo y envíelo.",
    "This form was sent from another site": "Este formulario se envió desde otro sitio",
    "Open the feedback page yourself and send it from there.": (
        "Abra usted mismo la página de opiniones y envíelo desde allí."
    ),
    "Send it from the feedback page.": "Envíelo desde la página de opiniones.",
    "Your comment is too long": "Su comentario es demasiado largo",
    "Go back and shorten it to {limit} characters or fewer.": (
        "Vuelva atrás y acórtelo a {limit} caracteres o menos."
    ),
}

# The status page (api/status_page.py) and its "not resolved" form.
SPANISH.update(
    {
        "Government of Grenada: service feedback": "Gobierno de Granada: opiniones sobre los servicios",
        "Received": "Recibida",
        "Open": "Abierta",
        "In progress": "En curso",
        "Waiting for information": "Esperando información",
        "Resolved": "Resuelta",
        "Closed": "Cerrada",
        "Reopened": "Reabierta",
        "Reference": "Referencia",
        "Ticket": "Caso",
        "Last update": "Última actualización",
        "Your feedback": "Su opinión",
        status.STATUS_MEANINGS["received"]: (
            "Recibimos su opinión. Gracias: se suma a las valoraciones del servicio."
        ),
        status.STATUS_MEANINGS["open"]: (
            "Recibimos su queja y está esperando a que un funcionario se haga cargo."
        ),
        status.STATUS_MEANINGS["in_progress"]: "Un funcionario está trabajando en su queja.",
        status.STATUS_MEANINGS["waiting"]: (
            "La oficina está esperando información antes de poder continuar."
        ),
        status.STATUS_MEANINGS["resolved"]: "La oficina dice que su queja está resuelta.",
        status.STATUS_MEANINGS["closed"]: "Su queja está cerrada.",
        status.STATUS_MEANINGS["reopened"]: "Su queja se reabrió y se está estudiando de nuevo.",
        status.OTHER_STATUS_MEANING: ("La oficina actualizó su queja; su estado se muestra arriba."),
        "We have reopened your complaint": "Hemos reabierto su queja",
        "Thank you for telling us it is not resolved. The office will look at it again and you can "
        "follow it on this page.": (
            "Gracias por decirnos que no está resuelta. La oficina la estudiará de nuevo y usted "
            "puede seguirla en esta página."
        ),
        "Replies from the office": "Respuestas de la oficina",
        "History": "Historial",
        "You can do this once, until {date}.": "Puede hacerlo una vez, hasta el {date}.",
        "You can do this once.": "Puede hacerlo una vez.",
        "Is your complaint not resolved? Tell us why": "¿Su queja no está resuelta? Díganos por qué",
        "The office will reopen your complaint and look at it again.": (
            "La oficina reabrirá su queja y la estudiará de nuevo."
        ),
        "Up to {limit} characters. Do not include personal details.": (
            "Hasta {limit} caracteres. No incluya datos personales."
        ),
        "Reopen my complaint": "Reabrir mi queja",
        "Back to your complaint": "Volver a su queja",
        "Reference not found": "Referencia no encontrada",
        "We have no submission with the reference {reference}.": (
            "No tenemos ninguna opinión con la referencia {reference}."
        ),
        "Check it against your receipt. A complaint made at a kiosk that was offline appears here "
        "once the kiosk reconnects, usually within the day.": (
            "Compárela con su recibo. Una queja hecha en un quiosco sin conexión aparece aquí cuando "
            "el quiosco se vuelve a conectar, normalmente en el mismo día."
        ),
        "Too many reference codes were looked up from this network in the last {window} minutes, "
        "so we have paused look-ups from it for a while.": (
            "Desde esta red se consultaron demasiados códigos de referencia en los últimos {window} "
            "minutos, así que hemos pausado las consultas desde ella durante un tiempo."
        ),
        "Try again in 1 minute.": "Inténtelo de nuevo dentro de 1 minuto.",
        "Try again in {minutes} minutes.": "Inténtelo de nuevo dentro de {minutes} minutos.",
        "Your reference is not lost: your feedback and its status are kept, and this page will "
        "show them when you try again.": (
            "Su referencia no se ha perdido: su opinión y su estado se conservan, y esta página los "
            "mostrará cuando lo intente de nuevo."
        ),
        "This can only be sent from the complaint's own status page.": (
            "Esto solo se puede enviar desde la propia página de estado de la queja."
        ),
        "Send it from the status page's form.": "Envíelo desde el formulario de la página de estado.",
        "Your reason is too long": "Su motivo es demasiado largo",
        "Your complaint cannot be reopened here": "Su queja no se puede reabrir aquí",
        appeal.NO_TICKET: "Su opinión no dio lugar a una queja, así que no hay nada que reabrir.",
        appeal.ALREADY: (
            "Ya nos dijo que esta queja no está resuelta. Una queja solo se puede reabrir así una "
            "vez; la oficina la está estudiando de nuevo."
        ),
        appeal.NOT_DONE: (
            "La oficina todavía no ha dicho que su queja esté resuelta, así que no hay nada que "
            "reabrir: se sigue trabajando en ella."
        ),
        appeal.EXPIRED: (
            f"Han pasado más de {appeal.APPEAL_DAYS} días desde que la oficina resolvió su queja, así "
            "que ya no se puede reabrir aquí. Puede presentar una nueva queja."
        ),
        appeal.BLANK: "Díganos por qué su queja no está resuelta.",
        appeal.TOO_LONG: f"Su motivo debe tener {appeal.REASON_MAX_CHARS:,} caracteres o menos.",
    }
)

_CATALOGS: dict[str, dict[str, str]] = {"en": {}, "es": SPANISH}


def translator(lang: str) -> Callable[..., str]:
    return language.translator(_CATALOGS.get(lang, {}))
