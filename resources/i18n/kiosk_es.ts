<?xml version='1.0' encoding='utf-8'?>
<TS version="2.1" language="es_ES">
<context>
    <name>AttractScreen</name>
    <message>
        <location filename="../../kiosk/ui/screens/attract.py" line="51" />
        <location filename="../../kiosk/ui/selftest.py" line="168" />
        <source>How did we do today?</source>
        <translation>¿Cómo le atendimos hoy?</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/attract.py" line="52" />
        <source>Tap a face. One tap is enough.</source>
        <translation>Toque una cara. Basta con un toque.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/attract.py" line="53" />
        <source>Which service did you come for?</source>
        <translation>¿Por qué servicio vino?</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/attract.py" line="73" />
        <source>This kiosk has no services yet. Please ask at the counter.</source>
        <translation>Este quiosco aún no tiene servicios. Por favor, pregunte en el mostrador.</translation>
    </message>
</context>
<context>
    <name>CommentScreen</name>
    <message>
        <location filename="../../kiosk/ui/screens/comment.py" line="81" />
        <source>Please write what went wrong, so it can be put right.</source>
        <translation>Por favor, escriba qué salió mal, para poder corregirlo.</translation>
    </message>
    <message numerus="yes">
        <location filename="../../kiosk/ui/screens/comment.py" line="95" />
        <source>%n characters left</source>
        <translation><numerusform>Queda %n carácter</numerusform><numerusform>Quedan %n caracteres</numerusform></translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/comment.py" line="99" />
        <source>Your complaint</source>
        <translation>Su queja</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/comment.py" line="102" />
        <source>Your complaint will reach the ministry even if this kiosk is offline. You will get a reference code to follow it up.</source>
        <translation>Su queja llegará al ministerio aunque este quiosco no tenga conexión. Recibirá un código de referencia para darle seguimiento.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/comment.py" line="106" />
        <source>Send complaint</source>
        <translation>Enviar queja</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/comment.py" line="108" />
        <source>Your comment</source>
        <translation>Su comentario</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/comment.py" line="109" />
        <source>Please do not write your name, phone number or ID here.</source>
        <translation>Por favor, no escriba aquí su nombre, teléfono ni documento de identidad.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/comment.py" line="110" />
        <source>Save comment</source>
        <translation>Guardar comentario</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/comment.py" line="111" />
        <source>Type here</source>
        <translation>Escriba aquí</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/comment.py" line="112" />
        <source>Back</source>
        <translation>Atrás</translation>
    </message>
</context>
<context>
    <name>DetailsScreen</name>
    <message>
        <location filename="../../kiosk/ui/screens/details.py" line="63" />
        <source>Tell us more (optional)</source>
        <translation>Cuéntenos más (opcional)</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/details.py" line="65" />
        <source>Quality of the service</source>
        <translation>Calidad del servicio</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/details.py" line="66" />
        <source>Staff courtesy</source>
        <translation>Amabilidad del personal</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/details.py" line="67" />
        <source>Waiting time</source>
        <translation>Tiempo de espera</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/details.py" line="68" />
        <source>Cleanliness</source>
        <translation>Limpieza</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/details.py" line="72" />
        <source>Add a comment</source>
        <translation>Añadir un comentario</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/details.py" line="73" />
        <source>I want to make a complaint</source>
        <translation>Quiero presentar una queja</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/details.py" line="74" />
        <source>Send</source>
        <translation>Enviar</translation>
    </message>
</context>
<context>
    <name>FaceRow</name>
    <message>
        <location filename="../../kiosk/ui/parts.py" line="93" />
        <source>Very bad</source>
        <translation>Muy mal</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/parts.py" line="94" />
        <source>Bad</source>
        <translation>Mal</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/parts.py" line="95" />
        <source>Okay</source>
        <translation>Regular</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/parts.py" line="96" />
        <source>Good</source>
        <translation>Bien</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/parts.py" line="97" />
        <source>Very good</source>
        <translation>Muy bien</translation>
    </message>
</context>
<context>
    <name>Faults</name>
    <message>
        <location filename="../../kiosk/ui/fault_text.py" line="15" />
        <source>The kiosk's disk is full, so nothing new can be saved. Everything saved before is safe. Ask IT to free space on this kiosk.</source>
        <translation>El disco del quiosco está lleno y no se puede guardar nada nuevo. Todo lo guardado antes está a salvo. Pida a informática que libere espacio en este quiosco.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/fault_text.py" line="21" />
        <source>The kiosk's database is busy. Try again in a moment; if this keeps happening, ask IT to look for a stuck gea-kiosk command.</source>
        <translation>La base de datos del quiosco está ocupada. Inténtelo de nuevo en un momento; si sigue ocurriendo, pida a informática que busque un comando gea-kiosk bloqueado.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/fault_text.py" line="27" />
        <source>The kiosk cannot write to its data folder. Ask IT to make it writable again (or to repair the disk).</source>
        <translation>El quiosco no puede escribir en su carpeta de datos. Pida a informática que vuelva a permitir la escritura (o que repare el disco).</translation>
    </message>
</context>
<context>
    <name>KioskWindow</name>
    <message>
        <location filename="../../kiosk/ui/window.py" line="348" />
        <source>Sorry, this kiosk cannot take ratings now. Please ask staff.</source>
        <translation>Lo sentimos, este quiosco no puede recibir valoraciones ahora. Pregunte al personal.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/window.py" line="376" />
        <source>Sorry, this could not be saved. Please ask staff for help.</source>
        <translation>Lo sentimos, no se pudo guardar. Por favor, pida ayuda al personal.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/window.py" line="561" />
        <source>The grievance is logged as %1, but its receipt cannot be shown now. %2</source>
        <translation>La queja quedó registrada como %1, pero su comprobante no se puede mostrar ahora. %2</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/window.py" line="698" />
        <source>Citizen feedback</source>
        <translation>Opinión ciudadana</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/window.py" line="700" />
        <location filename="../../kiosk/ui/window.py" line="701" />
        <source>Staff</source>
        <translation>Personal</translation>
    </message>
</context>
<context>
    <name>LookupScreen</name>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="65" />
        <source>Looking up…</source>
        <translation>Buscando…</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="82" />
        <source>The look-up did not work. Please try again in a moment.</source>
        <translation>La consulta no funcionó. Por favor, inténtelo de nuevo en un momento.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="86" />
        <source>Nothing found for %1. Check the code and try again.</source>
        <translation>No se encontró nada para %1. Revise el código e inténtelo de nuevo.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="90" />
        <source>as the ministry's system has it</source>
        <translation>según el sistema del ministerio</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="92" />
        <source>as this kiosk has it (the server cannot be reached)</source>
        <translation>según este quiosco (no se puede contactar con el servidor)</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="95" />
        <source>Reference: %1</source>
        <translation>Referencia: %1</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="96" />
        <source>Ticket: %1</source>
        <translation>Caso: %1</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="96" />
        <source>none yet</source>
        <translation>aún ninguno</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="97" />
        <source>Status: %1</source>
        <translation>Estado: %1</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="113" />
        <source>Look up a reference or ticket</source>
        <translation>Buscar una referencia o un caso</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="114" />
        <source>Reference code or ticket number</source>
        <translation>Código de referencia o número de caso</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="115" />
        <source>Look up</source>
        <translation>Buscar</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="116" />
        <source>Print its receipt</source>
        <translation>Imprimir su comprobante</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="117" />
        <source>Back</source>
        <translation>Atrás</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="122" />
        <source>being answered on this kiosk</source>
        <translation>en curso en este quiosco</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="123" />
        <source>queued on this kiosk, not yet sent</source>
        <translation>en cola en este quiosco, aún sin enviar</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="124" />
        <source>being sent</source>
        <translation>enviándose</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="125" />
        <source>delivered to the ministry</source>
        <translation>entregado al ministerio</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="126" />
        <source>refused by the server (see sync health)</source>
        <translation>rechazado por el servidor (vea el estado de sincronización)</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="130" />
        <source>received</source>
        <translation>recibido</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="131" />
        <source>open</source>
        <translation>abierto</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="132" />
        <source>in progress</source>
        <translation>en curso</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="133" />
        <source>waiting for information</source>
        <translation>esperando información</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="134" />
        <source>resolved</source>
        <translation>resuelto</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="135" />
        <source>closed</source>
        <translation>cerrado</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/lookup.py" line="136" />
        <source>reopened</source>
        <translation>reabierto</translation>
    </message>
</context>
<context>
    <name>OnScreenKeyboard</name>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="212" />
        <source>Delete</source>
        <extracomment>Smallest side of any key: the kiosk's touch-target token (20 mm on the reference panel). Languages with a letter layout; ``set_language`` accepts these (and region variants). Backspace repeats after this delay, at this interval, while held. An int property on a target field: the most characters the keyboard lets it hold. A second shift tap within this many ms turns on caps lock; a slower one turns shift off.</extracomment>
        <translation>Borrar</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="213" />
        <source>Backspace</source>
        <translation>Retroceso</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="215" />
        <source>space</source>
        <translation>espacio</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="216" />
        <source>Space</source>
        <translation>Espacio</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="218" />
        <source>?123</source>
        <translation>?123</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="219" />
        <source>Numbers and symbols</source>
        <translation>Números y símbolos</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="221" />
        <source>ABC</source>
        <translation>ABC</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="222" />
        <source>Letters</source>
        <translation>Letras</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="224" />
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="225" />
        <source>Done</source>
        <translation>Listo</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="334" />
        <source>CAPS</source>
        <translation>MAYÚS</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="334" />
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="335" />
        <source>Shift</source>
        <translation>Mayúscula</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/keyboard.py" line="335" />
        <source>Caps lock</source>
        <translation>Bloqueo de mayúsculas</translation>
    </message>
</context>
<context>
    <name>OneMomentScreen</name>
    <message>
        <location filename="../../kiosk/ui/screens/one_moment.py" line="27" />
        <source>One moment, please</source>
        <translation>Un momento, por favor</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/one_moment.py" line="28" />
        <source>The kiosk is getting ready for you.</source>
        <translation>El quiosco se está preparando para usted.</translation>
    </message>
</context>
<context>
    <name>PinPad</name>
    <message>
        <location filename="../../kiosk/ui/widgets/pin_pad.py" line="116" />
        <location filename="../../kiosk/ui/widgets/pin_pad.py" line="117" />
        <source>Clear</source>
        <extracomment>Longest PIN the pad accepts; further digits are ignored. One of these per entered digit. U+2022 is in practically every font, unlike U+25CF.</extracomment>
        <translation>Borrar todo</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/pin_pad.py" line="118" />
        <source>Delete</source>
        <translation>Borrar</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/pin_pad.py" line="119" />
        <source>Backspace</source>
        <translation>Retroceso</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/widgets/pin_pad.py" line="120" />
        <location filename="../../kiosk/ui/widgets/pin_pad.py" line="121" />
        <source>OK</source>
        <translation>Aceptar</translation>
    </message>
    <message numerus="yes">
        <location filename="../../kiosk/ui/widgets/pin_pad.py" line="191" />
        <source>PIN, %n digit(s) entered</source>
        <translation><numerusform>PIN, %n dígito introducido</numerusform><numerusform>PIN, %n dígitos introducidos</numerusform></translation>
    </message>
</context>
<context>
    <name>Receipt</name>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="170" />
        <source>Complaint receipt</source>
        <translation>Comprobante de queja</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="171" />
        <source>Your complaint will reach the ministry even if this kiosk is offline. Keep this receipt to follow it up.</source>
        <translation>Su queja llegará al ministerio aunque este quiosco no tenga conexión. Guarde este comprobante para darle seguimiento.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="178" />
        <source>Feedback receipt</source>
        <translation>Comprobante de opinión</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="179" />
        <source>Thank you for your feedback. Scan the code to see what becomes of it.</source>
        <translation>Gracias por su opinión. Escanee el código para ver cómo avanza.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="212" />
        <source>Reference code</source>
        <translation>Código de referencia</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="222" />
        <source>Ticket number: %1</source>
        <translation>Número de caso: %1</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="225" />
        <source>Your rating: %1 of 5</source>
        <translation>Su valoración: %1 de 5</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="233" />
        <source>Kiosk %1</source>
        <translation>Quiosco %1</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="410" />
        <source>The receipt could not be printed. Write the reference code down for the citizen.</source>
        <extracomment>Why the last receipt did not print, for staff; None after one that did.</extracomment>
        <translation>No se pudo imprimir el comprobante. Anote el código de referencia para el ciudadano.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="439" />
        <source>No printer is connected. Check the printer's cable and power.</source>
        <translation>No hay ninguna impresora conectada. Revise el cable y la alimentación de la impresora.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="442" />
        <source>The printer %1 is not connected. Check its cable and power, or ask IT to check the printer name in kiosk.toml.</source>
        <translation>La impresora %1 no está conectada. Revise su cable y alimentación, o pida a informática que revise el nombre de la impresora en kiosk.toml.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="526" />
        <source>The printer did not take the receipt. Check its paper and power, then reprint it.</source>
        <translation>La impresora no aceptó el comprobante. Revise el papel y la alimentación, y vuelva a imprimirlo.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="482" />
        <source>The receipt is printing.</source>
        <translation>El comprobante se está imprimiendo.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="531" />
        <source>The printer %1 has stopped (out of paper, jammed or switched off). Check it; IT may have to restart its queue. Then reprint the receipt.</source>
        <translation>La impresora %1 se ha detenido (sin papel, atascada o apagada). Revísela; puede que informática tenga que reiniciar su cola. Luego vuelva a imprimir el comprobante.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="563" />
        <source>The receipt was saved as %1.</source>
        <translation>El comprobante se guardó como %1.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/printing.py" line="569" />
        <source>Receipts cannot be saved in %1 (%2). Ask IT to check the folder in kiosk.toml.</source>
        <translation>No se pueden guardar comprobantes en %1 (%2). Pida a informática que revise la carpeta en kiosk.toml.</translation>
    </message>
</context>
<context>
    <name>ReceiptScreen</name>
    <message>
        <location filename="../../kiosk/ui/screens/receipt.py" line="109" />
        <source>Your receipt is printing.</source>
        <translation>Su comprobante se está imprimiendo.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/receipt.py" line="104" />
        <source>The printer is not working. Please scan the code with your phone or write it down.</source>
        <translation>La impresora no funciona. Escanee el código con su teléfono o anótelo.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/receipt.py" line="95" />
        <source>Printing…</source>
        <translation>Imprimiendo…</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/receipt.py" line="107" />
        <source>The receipt was saved as a file.</source>
        <translation>El recibo se guardó como archivo.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/receipt.py" line="116" />
        <source>Your complaint is recorded</source>
        <translation>Su queja ha quedado registrada</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/receipt.py" line="116" />
        <source>Your feedback is recorded</source>
        <translation>Su opinión ha quedado registrada</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/receipt.py" line="120" />
        <source>It will reach the ministry even if this kiosk is offline. Keep this code to follow it up on your phone.</source>
        <translation>Llegará al ministerio aunque este quiosco no tenga conexión. Guarde este código para darle seguimiento desde su teléfono.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/receipt.py" line="124" />
        <source>Your reference code</source>
        <translation>Su código de referencia</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/receipt.py" line="125" />
        <source>Print a receipt</source>
        <translation>Imprimir comprobante</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/receipt.py" line="126" />
        <source>Finish</source>
        <translation>Terminar</translation>
    </message>
</context>
<context>
    <name>StaffHomeScreen</name>
    <message>
        <location filename="../../kiosk/ui/screens/staff_home.py" line="50" />
        <source>Staff</source>
        <translation>Personal</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_home.py" line="52" />
        <source>Log a walk-in grievance</source>
        <translation>Registrar una queja presencial</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_home.py" line="53" />
        <source>Look up a reference or ticket</source>
        <translation>Buscar una referencia o un caso</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_home.py" line="54" />
        <source>Reprint a receipt</source>
        <translation>Reimprimir un comprobante</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_home.py" line="55" />
        <source>Sync health</source>
        <translation>Estado de sincronización</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_home.py" line="56" />
        <source>Switch language</source>
        <translation>Cambiar idioma</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_home.py" line="57" />
        <source>High contrast on/off</source>
        <translation>Alto contraste sí/no</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_home.py" line="58" />
        <source>Back to the citizen screen</source>
        <translation>Volver a la pantalla del ciudadano</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_home.py" line="59" />
        <source>Exit kiosk mode</source>
        <translation>Salir del modo quiosco</translation>
    </message>
</context>
<context>
    <name>StaffLoginScreen</name>
    <message numerus="yes">
        <location filename="../../kiosk/ui/screens/staff_login.py" line="51" />
        <source>That PIN is not right. Try again (%n mistakes so far).</source>
        <translation><numerusform>Ese PIN no es correcto. Inténtelo de nuevo (%n error hasta ahora).</numerusform><numerusform>Ese PIN no es correcto. Inténtelo de nuevo (%n errores hasta ahora).</numerusform></translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_login.py" line="80" />
        <source>Staff mode is not set up on this kiosk. IT sets the staff PIN.</source>
        <translation>El modo de personal no está configurado en este quiosco. Informática define el PIN.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_login.py" line="66" />
        <location filename="../../kiosk/ui/screens/staff_login.py" line="102" />
        <source>Enter the staff PIN.</source>
        <translation>Introduzca el PIN del personal.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_login.py" line="70" />
        <source>Checking the PIN…</source>
        <translation>Comprobando el PIN…</translation>
    </message>
    <message numerus="yes">
        <location filename="../../kiosk/ui/screens/staff_login.py" line="90" />
        <source>Too many wrong PINs. Try again in %n seconds.</source>
        <translation><numerusform>Demasiados PIN incorrectos. Inténtelo de nuevo en %n segundo.</numerusform><numerusform>Demasiados PIN incorrectos. Inténtelo de nuevo en %n segundos.</numerusform></translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_login.py" line="99" />
        <source>Staff</source>
        <translation>Personal</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/staff_login.py" line="100" />
        <source>Back to the citizen screen</source>
        <translation>Volver a la pantalla del ciudadano</translation>
    </message>
</context>
<context>
    <name>SyncHealthScreen</name>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="67" />
        <source>Sync health</source>
        <translation>Estado de sincronización</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="68" />
        <source>Queue</source>
        <translation>Cola</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="69" />
        <source>Oldest unsent</source>
        <translation>Más antiguo sin enviar</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="70" />
        <source>Last successful sync</source>
        <translation>Última sincronización correcta</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="71" />
        <source>Printer</source>
        <translation>Impresora</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="72" />
        <source>Problem</source>
        <translation>Problema</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="73" />
        <source>Device</source>
        <translation>Dispositivo</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="74" />
        <source>Rejected items</source>
        <translation>Envíos rechazados</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="75" />
        <source>Sync now</source>
        <translation>Sincronizar ahora</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="76" />
        <source>Back</source>
        <translation>Atrás</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="87" />
        <source>%1 waiting, %2 delivered, %3 rejected</source>
        <translation>%1 en espera, %2 entregados, %3 rechazados</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="92" />
        <source>nothing waiting</source>
        <translation>nada en espera</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="93" />
        <source>never</source>
        <translation>nunca</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="95" />
        <source>working</source>
        <translation>funciona</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="96" />
        <source>not connected</source>
        <translation>no conectada</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="97" />
        <source>failing: check paper and cable</source>
        <translation>falla: revise el papel y el cable</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="98" />
        <source>saving receipts as PDF files</source>
        <translation>guarda los comprobantes como archivos PDF</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="104" />
        <source>none</source>
        <translation>ninguno</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="112" />
        <source>None</source>
        <translation>Ninguno</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="119" />
        <source>Not enrolled: IT runs gea-kiosk enroll on this kiosk.</source>
        <translation>No registrado: informática ejecuta gea-kiosk enroll en este quiosco.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="121" />
        <source>Cannot sync: %1</source>
        <translation>No puede sincronizar: %1</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="125" />
        <source>Not authorized: the server refused this kiosk. Ask IT to re-enroll it.</source>
        <translation>No autorizado: el servidor rechazó este quiosco. Pida a informática que lo vuelva a registrar.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="126" />
        <source>Not authorized since %1: the server refused this kiosk. Ask IT to re-enroll it.</source>
        <translation>No autorizado desde %1: el servidor rechazó este quiosco. Pida a informática que lo vuelva a registrar.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="134" />
        <source>Another process (gea-kiosk sync) is sending this kiosk's queue.</source>
        <translation>Otro proceso (gea-kiosk sync) está enviando la cola de este quiosco.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="130" />
        <source>Offline since %1. Everything is kept and sent when the network returns.</source>
        <translation>Sin conexión desde %1. Todo se guarda y se enviará cuando vuelva la red.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="136" />
        <source>Online: sending now.</source>
        <translation>Conectado: enviando ahora.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="138" />
        <source>Connecting to the server…</source>
        <translation>Conectando con el servidor…</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/sync_health.py" line="139" />
        <source>Online.</source>
        <translation>Conectado.</translation>
    </message>
</context>
<context>
    <name>ThankYouScreen</name>
    <message>
        <location filename="../../kiosk/ui/screens/thanks.py" line="79" />
        <source>Sorry</source>
        <translation>Lo sentimos</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/thanks.py" line="81" />
        <source>Your rating could not be saved just now. Please tell a member of staff.</source>
        <translation>Su valoración no se pudo guardar en este momento. Por favor, avise al personal.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/thanks.py" line="84" />
        <source>Thank you!</source>
        <translation>¡Gracias!</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/thanks.py" line="86" />
        <source>We are sorry it did not go well. Tell us what happened, so it can be put right.</source>
        <translation>Sentimos que no haya ido bien. Cuéntenos qué pasó, para poder corregirlo.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/thanks.py" line="88" />
        <source>Your rating has been recorded.</source>
        <translation>Su valoración ha quedado registrada.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/thanks.py" line="90" />
        <source>Tell us more</source>
        <translation>Cuéntenos más</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/thanks.py" line="91" />
        <source>I want to make a complaint</source>
        <translation>Quiero presentar una queja</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/thanks.py" line="92" />
        <source>Done</source>
        <translation>Listo</translation>
    </message>
</context>
<context>
    <name>WalkInScreen</name>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="126" />
        <source>Choose the service.</source>
        <translation>Elija el servicio.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="128" />
        <source>Choose the citizen's rating.</source>
        <translation>Elija la valoración del ciudadano.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="134" />
        <source>Describe the grievance.</source>
        <translation>Describa la queja.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="146" />
        <source>Walk-in grievance</source>
        <translation>Queja presencial</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="147" />
        <source>Service</source>
        <translation>Servicio</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="148" />
        <source>Category</source>
        <translation>Categoría</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="149" />
        <source>Priority (optional)</source>
        <translation>Prioridad (opcional)</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="150" />
        <source>The citizen's rating</source>
        <translation>La valoración del ciudadano</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="152" />
        <source>What happened? Do not write the citizen's name, phone number or ID.</source>
        <translation>¿Qué pasó? No escriba el nombre, teléfono ni documento del ciudadano.</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="154" />
        <source>Back</source>
        <translation>Atrás</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="156" />
        <source>Next</source>
        <translation>Siguiente</translation>
    </message>
    <message>
        <location filename="../../kiosk/ui/screens/walk_in.py" line="156" />
        <source>Log grievance</source>
        <translation>Registrar queja</translation>
    </message>
</context>
</TS>