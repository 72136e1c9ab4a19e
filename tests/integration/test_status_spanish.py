"""The status page in Spanish: chosen by the browser or the link, switched back, with Spanish
dates; the "not resolved" form keeps the language through its error and its redirect."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from tests.helpers.feedback import insert_feedback
from tests.helpers.server import LiveServer

REFERENCE = "KSK001-000077-7QX4"
RESOLVED = 4
SPANISH_DATE = re.compile(
    r">\d{1,2} de (enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre"
    r"|diciembre) de \d{4}, \d\d:\d\d<"
)


def test_the_status_page_speaks_the_citizens_language(
    live_server: LiveServer, conn: psycopg.Connection[Any]
) -> None:
    insert_feedback(conn, rating=1, grievance_flag=True, reference_code=REFERENCE)
    with live_server.client() as client:
        by_browser = client.get(f"/s/{REFERENCE}", headers={"Accept-Language": "es-419,es;q=0.9"})
        by_link = client.get(f"/s/{REFERENCE}", params={"lang": "es"})
        back = client.get(f"/s/{REFERENCE}", params={"lang": "en"}, headers={"Accept-Language": "es"})
        unknown = client.get("/s/KSK001-000078-7QX4", params={"lang": "es"})
    for page in (by_browser.text, by_link.text):
        assert '<html lang="es">' in page
        assert "Su opinión" in page
        assert "Abierta" in page
        assert "Recibimos su queja y está esperando" in page
        assert SPANISH_DATE.search(page), page
        assert f'href="/s/{REFERENCE}?lang=en"' in page
    assert '<html lang="en">' in back.text
    assert "Your feedback" in back.text
    assert unknown.status_code == 404
    assert "Referencia no encontrada" in unknown.text


def test_the_appeal_keeps_the_language(live_server: LiveServer, conn: psycopg.Connection[Any]) -> None:
    feedback_id = insert_feedback(conn, rating=1, grievance_flag=True, reference_code=REFERENCE)
    conn.execute("UPDATE tickets SET status_id = %s WHERE feedback_id = %s", (RESOLVED, feedback_id))
    with live_server.client(follow_redirects=False) as client:
        page = client.get(f"/s/{REFERENCE}", params={"lang": "es"}).text
        assert "¿Su queja no está resuelta? Díganos por qué" in page
        assert '<input type="hidden" name="lang" value="es">' in page
        blank = client.post(f"/s/{REFERENCE}/not-resolved", data={"reason": " ", "lang": "es"})
        assert blank.status_code == 422
        assert "Hay un problema" in blank.text
        assert "Díganos por qué su queja no está resuelta." in blank.text
        sent = client.post(f"/s/{REFERENCE}/not-resolved", data={"reason": "Sigue mal.", "lang": "es"})
        assert sent.status_code == 303
        assert sent.headers["location"] == f"/s/{REFERENCE}?reopened=1&lang=es"
        confirmed = client.get(sent.headers["location"]).text
    assert "Hemos reabierto su queja" in confirmed
    assert "Reabierta" in confirmed
