"""`gea-server qr-poster`: printable A4 posters with a service's QR code (issue 15).

The statements are in services/qr_codes.py and the drawing in posters.py; this module reads
the command line, checks --out before anything else, holds the transaction (committed before a
poster is written, so the code a poster prints is in feedback_db) and says, per poster, the
file, the address and whether its code is new or reused. docs/qr-posters.md is the guide.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import click
from click.core import ParameterSource

from server_sync_api import posters
from server_sync_api.commands.support import (
    EnvironmentProblem,
    Refused,
    migrated_connection,
    settings_or_exit,
)
from server_sync_api.posters import Language
from server_sync_api.services import qr_codes

LANGUAGE_CHOICES: Final = posters.LANGUAGES
# The options that make posters (and the parameter each sets), which --retire goes without.
_POSTER_OPTIONS: Final = {
    "--service": "service_id",
    "--all": "every_service",
    "--location": "location",
    "--out": "out",
    "--language": "language",
}
# What a file name made from a service id may keep; anything else becomes "_".
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except qr_codes.QrCodeError as exc:
        raise Refused(str(exc)) from None


@click.command("qr-poster")
@click.option("--service", "service_id", metavar="SERVICE_ID", help="The service, e.g. SVC-001.")
@click.option(
    "--all", "every_service", is_flag=True, help="One poster per active service; --out is a folder."
)
@click.option(
    "--location",
    metavar="PLACE",
    help="Where the poster hangs, printed on it, e.g. 'Counter 2'. Each place gets a code of its own.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=True, file_okay=True),
    help="The PDF to write, e.g. counter2.pdf; with --all, the folder (made if missing).",
)
@click.option(
    "--language",
    type=click.Choice(LANGUAGE_CHOICES),
    default="en",
    show_default=True,
    help="The poster's words.",
)
@click.option(
    "--retire",
    "retire_value",
    metavar="VALUE",
    help="Retire the code VALUE (the end of a poster's address): its posters are not reprinted.",
)
@click.pass_context
def qr_poster_command(
    ctx: click.Context,
    service_id: str | None,
    every_service: bool,
    location: str | None,
    out: Path | None,
    language: Language,
    retire_value: str | None,
) -> None:
    """Make a printable A4 poster with a service's QR code.

    The code opens the public feedback form for the service (GEA_SERVER_PUBLIC_BASE_URL/q/CODE).
    A service keeps one code per place: printing its poster again prints the same code, so the
    posters on the walls keep working. See docs/qr-posters.md.

    \b
    gea-server qr-poster --service SVC-001 --location 'Counter 2' --out counter2.pdf
    gea-server qr-poster --all --out posters/ --language es
    gea-server qr-poster --retire 7QX4K2M9
    """
    if retire_value is not None:
        given = [
            option
            for option, parameter in _POSTER_OPTIONS.items()
            if ctx.get_parameter_source(parameter) is not ParameterSource.DEFAULT
        ]
        if given:
            raise click.UsageError(f"--retire takes no other option ({', '.join(given)})")
        _retire(retire_value)
        return
    if service_id is not None and every_service:
        raise click.UsageError("give either --service SERVICE_ID or --all, not both")
    if service_id is None and not every_service:
        raise click.UsageError(
            "say which poster: --service SERVICE_ID for one, or --all for one per active service"
        )
    if every_service and location is not None:
        raise click.UsageError(
            "--location is one place and --all covers every service: make the posters of one place "
            "one service at a time (--service SERVICE_ID --location PLACE)"
        )
    if out is None:
        raise click.UsageError(
            "--out is needed: the PDF to write" + (" (with --all, a folder)" if every_service else "")
        )
    if every_service:
        _check_folder(out)
        _all_posters(out, language)
    else:
        assert service_id is not None
        _check_file(out)
        _one_poster(service_id, location, out, language)


def _check_file(out: Path) -> None:
    if out.is_dir():
        raise Refused(f"--out {out} is a folder: give the file to write, e.g. {out / 'poster.pdf'}")
    if out.suffix.lower() != ".pdf":
        raise Refused(f"--out {out}: a poster is a PDF, so give a file name ending in .pdf")
    _check_parent(out)


def _check_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise Refused(f"--out {out} is a file: with --all it is the folder the posters go in")
    _check_parent(out)


def _check_parent(out: Path) -> None:
    parent = out.absolute().parent
    if not parent.is_dir():
        raise Refused(f"--out {out}: the folder {parent} does not exist: create it first, or choose another")


def _note_unreachable(public_base_url: str) -> None:
    """A poster is printed, laminated and hung: say so now if its address cannot work."""
    host = urlsplit(public_base_url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        local = host == "localhost" or host.endswith(".localhost")
        private = False
    else:
        local, private = address.is_loopback, address.is_private or address.is_link_local
    if local or private:
        where = "this computer" if local else "a private network, not from mobile data"
        click.echo(
            f"Note: GEA_SERVER_PUBLIC_BASE_URL is {public_base_url}, reachable only from {where}: "
            "set it to the server's public address before printing posters for citizens."
        )


def _one_poster(service_id: str, location: str | None, out: Path, language: Language) -> None:
    settings = settings_or_exit()
    _note_unreachable(settings.public_base_url)
    with _refusals():
        place = qr_codes.clean_location(location)
        with migrated_connection(settings) as conn:
            service = qr_codes.active_service(conn, service_id)
            code = qr_codes.code_for(conn, service, place)
    _write(code, settings.public_base_url, out, language)


def _all_posters(folder: Path, language: Language) -> None:
    settings = settings_or_exit()
    _note_unreachable(settings.public_base_url)
    with _refusals(), migrated_connection(settings) as conn:
        codes = [qr_codes.code_for(conn, service, None) for service in qr_codes.active_services(conn)]
    if not codes:
        click.echo("No active services, so no posters. The services are in service_master.")
        return
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot make the folder {folder}: {exc.strerror}") from None
    names: set[str] = set()
    for code in codes:
        path = folder / _file_name(code.service.service_id, names)
        _write(code, settings.public_base_url, path, language)
    new = sum(1 for code in codes if code.new)
    click.echo(
        f"{len(codes)} posters in {folder}: {new} with a new QR code, "
        f"{len(codes) - new} with their code reused."
    )


def _file_name(service_id: str, taken: set[str]) -> str:
    """`<service_id>.pdf`, kept inside the folder whatever the id holds, and not taken yet."""
    stem = _UNSAFE_IN_NAME.sub("_", service_id).lstrip(".") or "service"  # no "..", no hidden file
    name, number = f"{stem}.pdf", 1
    while name.lower() in taken:
        number += 1
        name = f"{stem}-{number}.pdf"
    taken.add(name.lower())
    return name


def _write(code: qr_codes.PosterCode, base_url: str, path: Path, language: Language) -> None:
    service = code.service
    url = qr_codes.public_url(base_url, code.value)
    poster = posters.Poster(url, service.service_name, service.entity_name, code.location, language)
    try:
        posters.write_pdf(poster, path)
    except (posters.FontMissing, posters.AddressTooLong) as exc:
        raise EnvironmentProblem(str(exc)) from None
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write {path}: {exc.strerror or exc}") from None
    where = f" at {code.location!r}" if code.location else ""
    how = "a new QR code" if code.new else f"its QR code reused ({code.scan_count} scans so far)"
    click.echo(f"Wrote {path} for {service.service_id}{where}: {url}, {how}.")
    missing = posters.missing_glyphs(f"{service.service_name}{service.entity_name}{code.location or ''}")
    if missing:
        click.echo(
            f"Note: the poster's font has no {' '.join(missing)}, printed as a box in the names on {path}."
        )


def _retire(value: str) -> None:
    settings = settings_or_exit()
    with _refusals(), migrated_connection(settings) as conn:
        retired = qr_codes.retire(conn, value)
    if retired.already:
        click.echo(f"QR code {retired.value} was already retired; nothing changed.")
        return
    where = f" at {retired.location!r}" if retired.location else ""
    click.echo(
        f"QR code {retired.value} ({retired.service_id}{where}) retired: take its posters down. The next "
        f"poster for {retired.service_id}{where} gets a new code."
    )
