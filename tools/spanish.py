"""Spanish for the kiosk: fills resources/i18n/kiosk_es.ts after `pyside6-lupdate` (make
translations). Kept as a table here so a reviewer reads source and translation side by side;
Qt Linguist can edit the .ts file just as well."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

SPANISH: dict[str, str | tuple[str, str]] = {
    "How did we do today?": "¿Cómo le atendimos hoy?",
    "Tap a face. One tap is enough.": "Toque una cara. Basta con un toque.",
    "Which service did you come for?": "¿Por qué servicio vino?",
    "This kiosk has no services yet. Please ask at the counter.": (
        "Este quiosco aún no tiene servicios. Por favor, pregunte en el mostrador."
    ),
    "Please write what went wrong, so it can be put right.": (
        "Por favor, escriba qué salió mal, para poder corregirlo."
    ),
    "%n characters left": ("Queda %n carácter", "Quedan %n caracteres"),
    "Your complaint": "Su queja",
    "Your complaint will reach the ministry even if this kiosk is offline. "
    "You will get a reference code to follow it up.": (
        "Su queja llegará al ministerio aunque este quiosco no tenga conexión. "
        "Recibirá un código de referencia para darle seguimiento."
    ),
    "Send complaint": "Enviar queja",
    "Your comment": "Su comentario",
    "Please do not write your name, phone number or ID here.": (
        "Por favor, no escriba aquí su nombre, teléfono ni documento de identidad."
    ),
    "Save comment": "Guardar comentario",
    "Type here": "Escriba aquí",
    "Back": "Atrás",
    "Tell us more (optional)": "Cuéntenos más (opcional)",
    "Quality of the service": "Calidad del servicio",
    "Staff courtesy": "Amabilidad del personal",
    "Waiting time": "Tiempo de espera",
    "Cleanliness": "Limpieza",
    "Add a comment": "Añadir un comentario",
    "I want to make a complaint": "Quiero presentar una queja",
    "Send": "Enviar",
    "Very bad": "Muy mal",
    "Bad": "Mal",
    "Okay": "Regular",
    "Good": "Bien",
    "Very good": "Muy bien",
    "Sorry, this kiosk cannot take ratings now. Please ask staff.": (
        "Lo sentimos, este quiosco no puede recibir valoraciones ahora. Pregunte al personal."
    ),
    "Citizen feedback": "Opinión ciudadana",
    "Staff": "Personal",
    "Looking up…": "Buscando…",
    "The look-up did not work. Please try again in a moment.": (
        "La consulta no funcionó. Por favor, inténtelo de nuevo en un momento."
    ),
    "Sorry, this could not be saved. Please ask staff for help.": (
        "Lo sentimos, no se pudo guardar. Por favor, pida ayuda al personal."
    ),
    "The receipt was saved as a file.": "El recibo se guardó como archivo.",
    "Nothing found for %1. Check the code and try again.": (
        "No se encontró nada para %1. Revise el código e inténtelo de nuevo."
    ),
    "as the ministry's system has it": "según el sistema del ministerio",
    "as this kiosk has it (the server cannot be reached)": (
        "según este quiosco (no se puede contactar con el servidor)"
    ),
    "Reference: %1": "Referencia: %1",
    "Ticket: %1": "Caso: %1",
    "none yet": "aún ninguno",
    "Status: %1": "Estado: %1",
    "Look up a reference or ticket": "Buscar una referencia o un caso",
    "Reference code or ticket number": "Código de referencia o número de caso",
    "Look up": "Buscar",
    "Print its receipt": "Imprimir su comprobante",
    "being answered on this kiosk": "en curso en este quiosco",
    "queued on this kiosk, not yet sent": "en cola en este quiosco, aún sin enviar",
    "being sent": "enviándose",
    "delivered to the ministry": "entregado al ministerio",
    "refused by the server (see sync health)": "rechazado por el servidor (vea el estado de sincronización)",
    "received": "recibido",
    "open": "abierto",
    "in progress": "en curso",
    "waiting for information": "esperando información",
    "resolved": "resuelto",
    "closed": "cerrado",
    "reopened": "reabierto",
    "Delete": "Borrar",
    "Backspace": "Retroceso",
    "space": "espacio",
    "Space": "Espacio",
    "?123": "?123",
    "Numbers and symbols": "Números y símbolos",
    "ABC": "ABC",
    "Letters": "Letras",
    "Done": "Listo",
    "CAPS": "MAYÚS",
    "Shift": "Mayúscula",
    "Caps lock": "Bloqueo de mayúsculas",
    "Clear": "Borrar todo",
    "OK": "Aceptar",
    "PIN, %n digit(s) entered": ("PIN, %n dígito introducido", "PIN, %n dígitos introducidos"),
    "Complaint receipt": "Comprobante de queja",
    "Your complaint will reach the ministry even if this kiosk is offline. "
    "Keep this receipt to follow it up.": (
        "Su queja llegará al ministerio aunque este quiosco no tenga conexión. "
        "Guarde este comprobante para darle seguimiento."
    ),
    "Feedback receipt": "Comprobante de opinión",
    "Thank you for your feedback. Scan the code to see what becomes of it.": (
        "Gracias por su opinión. Escanee el código para ver cómo avanza."
    ),
    "Reference code": "Código de referencia",
    "Ticket number: %1": "Número de caso: %1",
    "Your rating: %1 of 5": "Su valoración: %1 de 5",
    "Kiosk %1": "Quiosco %1",
    "The receipt could not be printed. Write the reference code down for the citizen.": (
        "No se pudo imprimir el comprobante. Anote el código de referencia para el ciudadano."
    ),
    "No printer is connected. Check the printer's cable and power.": (
        "No hay ninguna impresora conectada. Revise el cable y la alimentación de la impresora."
    ),
    "The printer %1 is not connected. Check its cable and power, or ask IT to check the printer "
    "name in kiosk.toml.": (
        "La impresora %1 no está conectada. Revise su cable y alimentación, o pida a informática "
        "que revise el nombre de la impresora en kiosk.toml."
    ),
    "The printer did not take the receipt. Check its paper and power, then reprint it.": (
        "La impresora no aceptó el comprobante. Revise el papel y la alimentación, y vuelva a imprimirlo."
    ),
    "The receipt is printing.": "El comprobante se está imprimiendo.",
    "The receipt was saved as %1.": "El comprobante se guardó como %1.",
    "Receipts cannot be saved in %1 (%2). Ask IT to check the folder in kiosk.toml.": (
        "No se pueden guardar comprobantes en %1 (%2). "
        "Pida a informática que revise la carpeta en kiosk.toml."
    ),
    "Your receipt is printing.": "Su comprobante se está imprimiendo.",
    "The printer is not working. Please scan the code with your phone or write it down.": (
        "La impresora no funciona. Escanee el código con su teléfono o anótelo."
    ),
    "Your complaint is recorded": "Su queja ha quedado registrada",
    "Your feedback is recorded": "Su opinión ha quedado registrada",
    "It will reach the ministry even if this kiosk is offline. "
    "Keep this code to follow it up on your phone.": (
        "Llegará al ministerio aunque este quiosco no tenga conexión. "
        "Guarde este código para darle seguimiento desde su teléfono."
    ),
    "Your reference code": "Su código de referencia",
    "Print a receipt": "Imprimir comprobante",
    "Finish": "Terminar",
    "Log a walk-in grievance": "Registrar una queja presencial",
    "Reprint a receipt": "Reimprimir un comprobante",
    "Sync health": "Estado de sincronización",
    "Switch language": "Cambiar idioma",
    "High contrast on/off": "Alto contraste sí/no",
    "Back to the citizen screen": "Volver a la pantalla del ciudadano",
    "Exit kiosk mode": "Salir del modo quiosco",
    "That PIN is not right. Try again (%n mistakes so far).": (
        "Ese PIN no es correcto. Inténtelo de nuevo (%n error hasta ahora).",
        "Ese PIN no es correcto. Inténtelo de nuevo (%n errores hasta ahora).",
    ),
    "Staff mode is not set up on this kiosk. IT sets the staff PIN.": (
        "El modo de personal no está configurado en este quiosco. Informática define el PIN."
    ),
    "Enter the staff PIN.": "Introduzca el PIN del personal.",
    "Too many wrong PINs. Try again in %n seconds.": (
        "Demasiados PIN incorrectos. Inténtelo de nuevo en %n segundo.",
        "Demasiados PIN incorrectos. Inténtelo de nuevo en %n segundos.",
    ),
    "Queue": "Cola",
    "Oldest unsent": "Más antiguo sin enviar",
    "Last successful sync": "Última sincronización correcta",
    "Printer": "Impresora",
    "Device": "Dispositivo",
    "Rejected items": "Envíos rechazados",
    "Sync now": "Sincronizar ahora",
    "%1 waiting, %2 delivered, %3 rejected": "%1 en espera, %2 entregados, %3 rechazados",
    "nothing waiting": "nada en espera",
    "never": "nunca",
    "working": "funciona",
    "not connected": "no conectada",
    "failing: check paper and cable": "falla: revise el papel y el cable",
    "saving receipts as PDF files": "guarda los comprobantes como archivos PDF",
    "None": "Ninguno",
    "not enrolled": "no registrado",
    "Not enrolled: IT runs gea-kiosk enroll on this kiosk.": (
        "No registrado: informática ejecuta gea-kiosk enroll en este quiosco."
    ),
    "Not authorized: the server refused this kiosk. Ask IT to re-enroll it.": (
        "No autorizado: el servidor rechazó este quiosco. Pida a informática que lo vuelva a registrar."
    ),
    "Another process (gea-kiosk sync) is sending this kiosk's queue.": (
        "Otro proceso (gea-kiosk sync) está enviando la cola de este quiosco."
    ),
    "Offline since %1. Everything is kept and sent when the network returns.": (
        "Sin conexión desde %1. Todo se guarda y se enviará cuando vuelva la red."
    ),
    "Online: sending now.": "Conectado: enviando ahora.",
    "Online.": "Conectado.",
    "Thank you!": "¡Gracias!",
    "We are sorry it did not go well. Tell us what happened, so it can be put right.": (
        "Sentimos que no haya ido bien. Cuéntenos qué pasó, para poder corregirlo."
    ),
    "Your rating has been recorded.": "Su valoración ha quedado registrada.",
    "Tell us more": "Cuéntenos más",
    "Choose the service.": "Elija el servicio.",
    "Choose the citizen's rating.": "Elija la valoración del ciudadano.",
    "Describe the grievance.": "Describa la queja.",
    "Walk-in grievance": "Queja presencial",
    "Service": "Servicio",
    "Category": "Categoría",
    "Priority (optional)": "Prioridad (opcional)",
    "The citizen's rating": "La valoración del ciudadano",
    "What happened? Do not write the citizen's name, phone number or ID.": (
        "¿Qué pasó? No escriba el nombre, teléfono ni documento del ciudadano."
    ),
    "Next": "Siguiente",
    "Log grievance": "Registrar queja",
    "Printing…": "Imprimiendo…",
    "The grievance is logged as %1, but its receipt cannot be shown now. %2": (
        "La queja quedó registrada como %1, pero su comprobante no se puede mostrar ahora. %2"
    ),
    "The printer %1 has stopped (out of paper, jammed or switched off). Check it; IT may have "
    "to restart its queue. Then reprint the receipt.": (
        "La impresora %1 se ha detenido (sin papel, atascada o apagada). Revísela; puede que "
        "informática tenga que reiniciar su cola. Luego vuelva a imprimir el comprobante."
    ),
    "Sorry": "Lo sentimos",
    "Your rating could not be saved just now. Please tell a member of staff.": (
        "Su valoración no se pudo guardar en este momento. Por favor, avise al personal."
    ),
    "Checking the PIN…": "Comprobando el PIN…",
    "Problem": "Problema",
    "none": "ninguno",
    "Cannot sync: %1": "No puede sincronizar: %1",
    "Not authorized since %1: the server refused this kiosk. Ask IT to re-enroll it.": (
        "No autorizado desde %1: el servidor rechazó este quiosco. "
        "Pida a informática que lo vuelva a registrar."
    ),
    "Connecting to the server…": "Conectando con el servidor…",
    "One moment, please": "Un momento, por favor",
    "The kiosk is getting ready for you.": "El quiosco se está preparando para usted.",
    "The kiosk's disk is full, so nothing new can be saved. Everything saved before is safe. "
    "Ask IT to free space on this kiosk.": (
        "El disco del quiosco está lleno y no se puede guardar nada nuevo. Todo lo guardado antes "
        "está a salvo. Pida a informática que libere espacio en este quiosco."
    ),
    "The kiosk's database is busy. Try again in a moment; if this keeps happening, ask IT to "
    "look for a stuck gea-kiosk command.": (
        "La base de datos del quiosco está ocupada. Inténtelo de nuevo en un momento; si sigue "
        "ocurriendo, pida a informática que busque un comando gea-kiosk bloqueado."
    ),
    "The kiosk cannot write to its data folder. Ask IT to make it writable again "
    "(or to repair the disk).": (
        "El quiosco no puede escribir en su carpeta de datos. Pida a informática que vuelva a "
        "permitir la escritura (o que repare el disco)."
    ),
}


def fill(ts_path: Path) -> list[str]:
    """Write the Spanish into the .ts file; returns source strings that have none."""
    tree = ET.parse(ts_path)
    missing = []
    for message in tree.getroot().iter("message"):
        source = message.findtext("source") or ""
        translation = message.find("translation")
        assert translation is not None
        spanish = SPANISH.get(source)
        if spanish is None:
            missing.append(source)
            continue
        translation.attrib.pop("type", None)
        for child in list(translation):
            translation.remove(child)
        if message.get("numerus") == "yes":
            forms = spanish if isinstance(spanish, tuple) else (spanish, spanish)
            translation.text = None
            for form in forms:
                ET.SubElement(translation, "numerusform").text = form
        else:
            translation.text = spanish if isinstance(spanish, str) else spanish[0]
    tree.write(ts_path, encoding="utf-8", xml_declaration=True)
    return missing


if __name__ == "__main__":
    gaps = fill(Path(sys.argv[1]))
    for source in gaps:
        print(f"no Spanish for: {source!r}", file=sys.stderr)
    sys.exit(1 if gaps else 0)
