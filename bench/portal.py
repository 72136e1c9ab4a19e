"""Speed and weight of the public form: GET /q/{value} and its POST, against /healthz.

The app runs as a real server process on 127.0.0.1, `uvicorn server_sync_api.main:create_app
--factory --workers N --proxy-headers --forwarded-allow-ips 127.0.0.1` (N = the number of
cores unless `--workers` says otherwise; uvloop and httptools, access log on, as `gea-server
serve` runs it), against a scratch database copied from a migrated template with the demo
catalog and its five QR posters; both are dropped at the end.

Eight clients on loopback, each an httpx.AsyncClient with its own keep-alive connection, all in
this process's event loop, each taking a measure's next request as soon as its last one is
answered (the kernel decides which worker takes each connection; the split is printed):

- `GET /healthz`: the baseline, measured in the same run (it does not touch the database);
- `GET /q/{value}` of one poster: each opening counts a scan, an UPDATE of the poster's row in
  `qr_codes` held until the request's transaction commits, so concurrent GETs of one poster
  wait for each other on that row;
- `GET /q/{value}` spread over the demo's five posters (less waiting on one row);
- the form's POST (`application/x-www-form-urlencoded`, a fresh uuid4 as `client_uuid` each
  time), spread over the five posters; ratings 1-5 weighted 12/13/15/30/30, about 7% of the
  others complaints, comments on the low ones, so about 30% make tickets. Each also adds one
  to its poster's `feedback_received` (the insert's trigger updates the same row).

The app lets one address send 2 submissions an hour freely, then asks for a CAPTCHA: every
request says where it comes from in X-Forwarded-For (10.0.0.0/8, counting up; at most two
POSTs per address), so every POST is accepted; each must answer 200 with the "Feedback
received" page, each GET 200 with the plain form, and afterwards the database must hold
every submission, ticket, address, scan and poster's count, or the run fails. Request bodies are made
before the clock starts. A warm-up opens the connections and warms the workers' pools; then
the measures run in rounds, interleaved, so a slow moment of the machine hits all of them.

Prints, for each: requests/second, p50 and p95 in milliseconds, the ratios to /healthz
(throughput and p95), and CPU milliseconds per request of the client, the server's processes
and the PostgreSQL backends (from /proc, Linux only). Clients, server and PostgreSQL share
this machine's cores, and the latencies include the client's own event loop's waiting.

Then the weight of the page a phone loads on a first visit: the HTML of `/q/{value}` and every
sub-resource it references (stylesheets, scripts, images, and url() in the stylesheets), in
bytes as the server sends them; when it does not compress, also what gzip -6 would make of
them. Transferred = bodies + response headers, against the target of 50,000 bytes. First paint
must not wait for scripts: no classic <script> in <head> without defer or async (module
scripts are deferred), and the plain form has no script at all; a page that breaks either
fails the run. The same for the form as the CAPTCHA shows it (the third submission in an hour
from one address), in English and Spanish, whose scripts load only then; the proof-of-work
worker its script starts when the citizen sends is listed apart. Nothing here asserts on time.

    python -m bench.portal [--requests N] [--rounds R] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import ipaddress
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
import psycopg
from sqlalchemy.engine import URL

from bench.desk import percentile
from bench.sync_server import backend_pids, demo_template, descendants, sample, spent, wait_ready
from tests.helpers import pg
from tests.helpers.server import free_port

CLIENTS = 8
DEFAULT_REQUESTS = 400  # of each measure per round, shared by the clients
DEFAULT_ROUNDS = 3
WARM_UP_PER_CLIENT = 10  # requests of each GET (POSTs: a quarter) before the clock starts
STOP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 60.0
PAGE_TARGET_BYTES = 50_000  # "under 50 KB transferred"
GZIP_LEVEL = 6
# The demo's posters (server_sync_api/demo.py, QR_CODES).
POSTERS = (
    "QR-SVC001-STG-COUNTER1",
    "QR-SVC002-GRENVILLE",
    "QR-SVC003-REGISTRY",
    "QR-SVC006-CARRIACOU",
    "QR-SVC009-GENHOSP",
)
SUB_RATINGS = ("service_quality", "staff_behavior", "waiting_time", "cleanliness")
POSTS_PER_ADDRESS = 2  # the free ones (services/public_feedback.py FREE_PER_HOUR)
# Where requests say they come from: POSTs, GETs and /healthz each count up from their own
# start; the CAPTCHA's address is one of its own.
POST_ADDRESSES = ipaddress.IPv4Address("10.0.0.1")
GET_ADDRESSES = ipaddress.IPv4Address("10.128.0.1")
HEALTH_ADDRESSES = ipaddress.IPv4Address("10.192.0.1")
CAPTCHA_ADDRESS = ipaddress.IPv4Address("10.255.255.1")
# What the answers must hold.
HEALTHY = b'"status":"ok"'
FORM = b'name="client_uuid"'
CAPTCHA_WIDGET = b"<altcha-widget"
RECEIVED = b"Feedback received"
# A module script's worker: `new URL("./altcha/pbkdf2.js", import.meta.url)` (static/captcha.js).
WORKER_URL = re.compile(r"""new\s+URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""")
# As a browser asks (httpx decodes these two itself).
ACCEPT_ENCODING = "gzip, deflate"


# --- the requests ------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request, made before the clock starts, and what its answer must hold."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None
    expect: bytes = b""
    refuse: bytes | None = None  # must not be in the answer


class Addresses:
    """Client addresses counting up from `start`, each used `per` times."""

    def __init__(self, start: ipaddress.IPv4Address, per: int = 1) -> None:
        self._start = int(start)
        self._per = per
        self._used = 0

    def next(self) -> str:
        address = str(ipaddress.IPv4Address(self._start + self._used // self._per))
        self._used += 1
        return address

    @property
    def distinct(self) -> int:
        return -(-self._used // self._per)


@dataclass
class Plan:
    """Makes the calls of every measure, and counts what the database must show for them."""

    rnd: random.Random = field(default_factory=lambda: random.Random(42))
    post_from: Addresses = field(default_factory=lambda: Addresses(POST_ADDRESSES, POSTS_PER_ADDRESS))
    get_from: Addresses = field(default_factory=lambda: Addresses(GET_ADDRESSES))
    health_from: Addresses = field(default_factory=lambda: Addresses(HEALTH_ADDRESSES))
    scans: Counter[str] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)
    posts: int = 0
    tickets_expected: int = 0

    def health(self) -> Call:
        return Call("GET", "/healthz", {"X-Forwarded-For": self.health_from.next()}, expect=HEALTHY)

    def form(self, poster: str) -> Call:
        self.scans[poster] += 1
        headers = {"X-Forwarded-For": self.get_from.next()}
        return Call("GET", f"/q/{poster}", headers, expect=FORM, refuse=CAPTCHA_WIDGET)

    def post(self, poster: str, address: str | None = None) -> Call:
        """A citizen's answers, as the form posts them."""
        rnd = self.rnd
        rating = rnd.choices((1, 2, 3, 4, 5), weights=(12, 13, 15, 30, 30))[0]
        grievance = rating >= 3 and rnd.random() < 0.07
        fields: list[tuple[str, str]] = [("client_uuid", str(uuid.uuid4())), ("lang", "en")]
        fields.append(("rating", str(rating)))
        fields += [(name, str(rnd.randint(1, 5))) for name in SUB_RATINGS if rnd.random() < 0.5]
        comment = (
            "The queue did not move for an hour. " * rnd.randint(1, 6) if rating <= 2 or grievance else ""
        )
        fields.append(("feedback_text", comment.strip()))
        if grievance:
            fields.append(("grievance_flag", "yes"))
        self.posts += 1
        self.received[poster] += 1
        if rating <= 2 or grievance:  # the rule that makes a ticket (after_feedback_insert)
            self.tickets_expected += 1
        headers = {
            "X-Forwarded-For": address or self.post_from.next(),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return Call("POST", f"/q/{poster}", headers, urlencode(fields).encode("ascii"), expect=RECEIVED)


@dataclass(frozen=True)
class Measure:
    name: str
    make: Callable[[Plan, int], Call]  # the measure's i-th request
    warm_up_per_client: int = WARM_UP_PER_CLIENT


MEASURES = (
    Measure("GET /healthz", lambda plan, _: plan.health()),
    Measure("GET /q/ (one poster)", lambda plan, _: plan.form(POSTERS[0])),
    Measure("GET /q/ (5 posters)", lambda plan, i: plan.form(POSTERS[i % len(POSTERS)])),
    Measure(
        "POST /q/ (5 posters)",
        lambda plan, i: plan.post(POSTERS[i % len(POSTERS)]),
        warm_up_per_client=WARM_UP_PER_CLIENT // 4,
    ),
)


def calls_for(plan: Plan, measure: Measure, count: int) -> list[Call]:
    return [measure.make(plan, i) for i in range(count)]


def check(call: Call, response: httpx.Response) -> None:
    body = response.content
    if response.status_code != 200 or call.expect not in body or (call.refuse and call.refuse in body):
        raise RuntimeError(
            f"{call.method} {call.path} from {call.headers.get('X-Forwarded-For')} answered "
            f"{response.status_code}, not the page expected (holding {call.expect!r}"
            f"{f', not {call.refuse!r}' if call.refuse else ''}): {response.text[:500]}"
        )


async def send(clients: Sequence[httpx.AsyncClient], calls: Sequence[Call]) -> tuple[float, list[float]]:
    """All clients at once, each taking the next call as soon as its last is answered (so all
    stay busy to the end, and no connection idles long enough for the server to close it);
    returns the wall-clock seconds until the last answer and each request's milliseconds."""
    latencies: list[float] = []
    pending = iter(calls)

    async def one(client: httpx.AsyncClient) -> None:
        for call in pending:
            started = time.perf_counter()
            response = await client.request(call.method, call.path, headers=call.headers, content=call.body)
            latencies.append((time.perf_counter() - started) * 1000)
            check(call, response)

    started = time.perf_counter()
    await asyncio.gather(*(one(client) for client in clients))
    return time.perf_counter() - started, latencies


# --- the server --------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    base_url: str
    port: int
    pid: int
    workers: int


@contextmanager
def server_process(db_url: URL, workers: int) -> Iterator[Server]:
    """uvicorn on a free 127.0.0.1 port against `db_url`, trusting X-Forwarded-For from
    127.0.0.1 only; stopped, with its workers, when the block ends."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FEEDBACK_DB_URL": db_url.render_as_string(hide_password=False),
        "GEA_SERVER_IP_HASH_SECRET": secrets.token_urlsafe(32),
        "GEA_SERVER_PUBLIC_BASE_URL": base_url,
    }
    command = [
        sys.executable, "-m", "uvicorn", "server_sync_api.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1",
    ]  # fmt: skip
    with tempfile.TemporaryFile(mode="w+") as log:
        # Its own session, so a server that ignores SIGTERM can be stopped with its workers.
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_ready(base_url, process, log)
            yield Server(base_url, port, process.pid, workers)
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            problems = log_problems(log)
            if problems:
                print("The server logged errors:", *problems[:20], sep="\n", file=sys.stderr)
    if problems:  # and the block itself raised nothing
        raise RuntimeError("the server logged errors (above); the figures mean nothing")


def log_problems(log: IO[str]) -> list[str]:
    """The lines of a stopped server's log that tell of an error (tracebacks, ERROR, 5xx)."""
    log.seek(0)
    return [
        line
        for line in log.read().splitlines()
        if "Traceback" in line or "ERROR" in line or re.search(r'HTTP/1\.1" 5\d\d', line)
    ]


def worker_pids(server: Server) -> list[int]:
    """uvicorn's worker processes (multiprocessing children), from /proc."""
    found = []
    for pid in descendants(server.pid)[1:]:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.append(pid)
    return found


def connections_per_worker(server: Server) -> list[int]:
    """The established connections to the server's port each worker holds (from /proc)."""
    inodes: set[str] = set()
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == server.port and fields[3] == "01":  # ESTABLISHED
            inodes.add(fields[9])
    counts = []
    for pid in worker_pids(server):
        held = 0
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    held += 1
        except OSError:
            continue
        counts.append(held)
    return counts


# --- speed -------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    client_cpu: float = 0.0
    server_cpu: float | None = 0.0
    db_cpu: float | None = 0.0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def p(self, q: float) -> float:
        return statistics.median(self.latencies) if q == 50 else percentile(self.latencies, q)

    def cpu_ms(self, seconds: float | None) -> str:
        return "-" if seconds is None else f"{1000 * seconds / self.requests:.2f}"


def add_cpu(total: float | None, more: float | None) -> float | None:
    return None if total is None or more is None else total + more


async def measure_speed(
    server: Server, info: str, plan: Plan, requests: int, rounds: int
) -> tuple[dict[str, Result], list[int]]:
    """Every measure, in rounds; and how the clients' connections were shared by the workers."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT_S, limits=limits)
            )
            for _ in range(CLIENTS)
        ]
        # Warm-up: opens every connection, fills the workers' pools, compiles the templates.
        for measure in MEASURES:
            await send(clients, calls_for(plan, measure, measure.warm_up_per_client * CLIENTS))
        results = {m.name: Result(m.name) for m in MEASURES}
        server_pids = descendants(server.pid)
        with psycopg.connect(info, autocommit=True) as monitor:
            for _ in range(rounds):
                for measure in MEASURES:
                    calls = calls_for(plan, measure, requests)
                    db_before, server_before = sample(backend_pids(monitor)), sample(server_pids)
                    client_before = time.process_time()
                    seconds, latencies = await send(clients, calls)
                    client_cpu = time.process_time() - client_before
                    db_cpu = spent(db_before, sample(backend_pids(monitor)))
                    server_cpu = spent(server_before, sample(server_pids))
                    result = results[measure.name]
                    result.requests += requests
                    result.seconds += seconds
                    result.latencies += latencies
                    result.client_cpu += client_cpu
                    result.server_cpu = add_cpu(result.server_cpu, server_cpu)
                    result.db_cpu = add_cpu(result.db_cpu, db_cpu)
        connections = connections_per_worker(server)
    return results, connections


def check_database(info: str, plan: Plan, extra_addresses: int) -> tuple[int, int]:
    """What the database holds must be what was sent; returns (feedback rows, tickets)."""
    with psycopg.connect(info) as conn:
        counts = {
            str(value): (int(scans), int(received))
            for value, scans, received in conn.execute(
                "SELECT qr_code_value, scan_count, feedback_received FROM qr_codes"
            )
        }
        row = conn.execute(
            "SELECT (SELECT count(*) FROM service_feedback WHERE channel = 'qr_code'), "
            "(SELECT count(*) FROM tickets), "
            "(SELECT count(DISTINCT ip_address) FROM submission_attempts WHERE success), "
            "(SELECT count(*) FROM submission_attempts WHERE NOT success)"
        ).fetchone()
    assert row is not None
    feedback, tickets, addresses, refused = (int(v) for v in row)
    problems = []
    for poster in POSTERS:
        scans, received = counts.get(poster, (0, 0))
        if (scans, received) != (plan.scans[poster], plan.received[poster]):
            problems.append(
                f"{poster}: {plan.scans[poster]:,} GETs and {plan.received[poster]:,} POSTs but counts of "
                f"{scans:,} scans and {received:,} submissions"
            )
    if feedback != plan.posts:
        problems.append(f"{plan.posts:,} POSTs accepted but {feedback:,} feedback rows stored")
    if tickets != plan.tickets_expected:
        problems.append(f"{plan.tickets_expected:,} tickets expected but {tickets:,} made")
    if addresses != plan.post_from.distinct + extra_addresses:
        problems.append(
            f"submissions came from {plan.post_from.distinct + extra_addresses:,} addresses but the app "
            f"logged {addresses:,}: is X-Forwarded-For trusted?"
        )
    if refused:
        problems.append(f"the app logged {refused:,} refused submissions")
    if problems:
        raise RuntimeError("the database does not match what was sent: " + "; ".join(problems))
    return feedback, tickets


# --- weight ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    kind: str  # stylesheet, script, image, css url, worker
    url: str
    in_head: bool = False
    blocking: bool = False  # holds back first paint (a stylesheet, a classic script in <head>)
    note: str = ""


class References(HTMLParser):
    """The sub-resources a page references, and its scripts' effect on first paint."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_head = False
        self.found: list[Reference] = []
        self.inline_scripts = 0
        self.inline_in_head = 0  # render-blocking, as a classic script there is

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value for name, value in attrs}
        if tag == "head":
            self.in_head = True
        elif tag == "body":
            self.in_head = False
        elif tag == "link" and "stylesheet" in (values.get("rel") or "").lower().split():
            href = values.get("href") or ""
            self.found.append(Reference("stylesheet", href, self.in_head, True, "render-blocking CSS"))
        elif tag == "script":
            src = values.get("src")
            module = (values.get("type") or "").lower() == "module"
            deferred = module or "defer" in values or "async" in values
            if src is None:
                self.inline_scripts += 1
                self.inline_in_head += self.in_head
                return
            if module:
                how = "module (deferred)"
            elif deferred:
                how = "async" if "async" in values else "defer"
            else:
                how = "classic in <head>: BLOCKS first paint" if self.in_head else "classic, in <body>"
            blocking = self.in_head and not deferred
            self.found.append(Reference("script", src, self.in_head, blocking, how))
        elif tag == "img" and values.get("src"):
            self.found.append(Reference("image", values.get("src") or "", self.in_head))

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False


@dataclass(frozen=True)
class Weight:
    url: str
    kind: str
    sent: int  # the body's bytes on the wire
    encoding: str  # Content-Encoding, "" when none
    gzipped: int  # gzip -6 of the body
    headers: int  # the status line and headers
    note: str = ""
    on_demand: bool = False  # loaded later (a worker started when the form is sent)


@dataclass(frozen=True)
class Page:
    label: str
    weights: list[Weight]
    stylesheets: int
    scripts: int
    blocking_scripts: int
    inline_scripts: int

    def total(self, on_demand: bool = False) -> tuple[int, int, int]:
        """(sent, gzip, headers) of what the first load fetches (or of what loads later)."""
        chosen = [w for w in self.weights if w.on_demand == on_demand]
        return (
            sum(w.sent for w in chosen),
            sum(w.gzipped for w in chosen),
            sum(w.headers for w in chosen),
        )


def header_bytes(response: httpx.Response) -> int:
    status = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n")
    return status + sum(len(name) + len(value) + 4 for name, value in response.headers.raw) + 2


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    kind: str,
    headers: dict[str, str],
    note: str = "",
    on_demand: bool = False,
) -> tuple[Weight, httpx.Response]:
    response = await client.get(url, headers={"Accept-Encoding": ACCEPT_ENCODING, **headers})
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}: {response.text[:300]}")
    body = response.content
    weight = Weight(
        url=urlsplit(url).path,
        kind=kind,
        sent=response.num_bytes_downloaded,
        encoding=response.headers.get("content-encoding", ""),
        gzipped=len(gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)),
        headers=header_bytes(response),
        note=note,
        on_demand=on_demand,
    )
    return weight, response


async def page_weight(
    server: Server, plan: Plan, label: str, poster: str, headers: dict[str, str], captcha: bool
) -> Page:
    """A poster's page as a first visit (a scan, with `headers`) loads it, with everything it
    references."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT_S) as client:
        page_url = f"{server.base_url}/q/{poster}"
        plan.scans[poster] += 1
        weight, response = await fetch(client, page_url, "html", headers)
        body = response.content
        if FORM not in body or (CAPTCHA_WIDGET in body) != captcha:
            raise RuntimeError(f"{page_url} with {headers} is not the {label}: {response.text[:500]}")
        parser = References()
        parser.feed(response.text)
        weights = [weight]
        seen = {page_url}
        queue = [r for r in parser.found if not r.url.startswith("data:")]
        while queue:
            ref = queue.pop(0)
            url = urljoin(page_url, ref.url)
            if url in seen:
                continue
            seen.add(url)
            if urlsplit(url).netloc != urlsplit(page_url).netloc:
                raise RuntimeError(f"{page_url} references {url}, not on this server")
            sub, answer = await fetch(client, url, ref.kind, {}, ref.note, on_demand=ref.kind == "worker")
            weights.append(sub)
            text = answer.text
            if ref.kind == "stylesheet":
                queue += [Reference("css url", u) for u in CSS_URL.findall(text) if not u.startswith("data:")]
            elif ref.kind == "script":
                # A worker's address is relative to its script's, not to the page's.
                queue += [
                    Reference("worker", urljoin(url, u), note="on demand: when the form is sent")
                    for u in WORKER_URL.findall(text)
                ]
    scripts = [r for r in parser.found if r.kind == "script"]
    return Page(
        label,
        weights,
        stylesheets=sum(r.kind == "stylesheet" for r in parser.found),
        scripts=len(scripts) + parser.inline_scripts,
        blocking_scripts=sum(r.blocking for r in scripts) + parser.inline_in_head,
        inline_scripts=parser.inline_scripts,
    )


async def measure_weight(server: Server, plan: Plan) -> list[Page]:
    poster = POSTERS[0]
    plain = await page_weight(
        server, plan, "plain form", poster, {"X-Forwarded-For": plan.get_from.next()}, captcha=False
    )
    # Two accepted submissions from one address: its next form asks for the CAPTCHA.
    async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT_S) as client:
        for _ in range(POSTS_PER_ADDRESS):
            call = plan.post(poster, str(CAPTCHA_ADDRESS))
            check(call, await client.post(call.path, headers=call.headers, content=call.body))
    english = await page_weight(
        server, plan, "form with the CAPTCHA", poster, {"X-Forwarded-For": str(CAPTCHA_ADDRESS)}, captcha=True
    )
    # A phone set to Spanish scanning the poster (?lang=es is the page's own switch: no scan).
    spanish_phone = {"X-Forwarded-For": str(CAPTCHA_ADDRESS), "Accept-Language": "es"}
    spanish = await page_weight(
        server, plan, "form with the CAPTCHA, in Spanish", poster, spanish_phone, captcha=True
    )
    pages = [plain, english, spanish]
    if plain.scripts:
        raise RuntimeError(f"the plain form has {plain.scripts} script(s); it should have none")
    for page in pages:
        if page.blocking_scripts:
            raise RuntimeError(f"the {page.label} has {page.blocking_scripts} render-blocking script(s)")
    return pages


# --- report ------------------------------------------------------------------------------


def report_speed(
    results: dict[str, Result], server: Server, requests: int, rounds: int, connections: Sequence[int]
) -> None:
    split = " + ".join(str(n) for n in connections) or "not known"
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"server: uvicorn --workers {server.workers} ({len(connections)} worker processes seen) on "
        f"127.0.0.1, --forwarded-allow-ips 127.0.0.1; {os.cpu_count()} cores shared by the clients, "
        f"the server and PostgreSQL (load average 1/5/15 min at the end: {load})"
    )
    print(
        f"clients: {CLIENTS} httpx.AsyncClient on loopback, one keep-alive connection each "
        f"(per worker: {split}); {rounds} rounds of {requests:,} requests of each measure, interleaved, "
        "after a warm-up"
    )
    if 0 in connections:
        print(
            f"note: {connections.count(0)} of the {len(connections)} workers got no connection (the kernel "
            "hands each to whichever worker accepts first): the figures are the others' alone"
        )
    print()
    base = results[MEASURES[0].name]
    print(
        f"{'':<22} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7}   {'ratio to /healthz':>19}   CPU ms per request"
    )
    print(
        f"{'':<22} {'':>7} {'':>7} {'':>7}   {'req/s':>9} {'p95':>9}   "
        f"{'client':>6} {'server':>6} {'Postgres':>8}"
    )
    for result in results.values():
        print(
            f"{result.name:<22} {result.per_second:>7,.0f} {result.p(50):>7.2f} {result.p(95):>7.2f}   "
            f"{result.per_second / base.per_second:>8.2f}x {result.p(95) / base.p(95):>8.2f}x   "
            f"{result.cpu_ms(result.client_cpu):>6} {result.cpu_ms(result.server_cpu):>6} "
            f"{result.cpu_ms(result.db_cpu):>8}"
        )
    one, five = results[MEASURES[1].name], results[MEASURES[2].name]
    print()
    print(
        "Each GET counts a scan, an UPDATE of the poster's qr_codes row held until the request commits: "
        "GETs of one poster contend on one row"
    )
    print("(and so do its POSTs, whose insert adds to the row's feedback_received).")
    print(
        f"One poster against five: {one.per_second / five.per_second:.2f}x the req/s, "
        f"{one.p(95) / five.p(95):.2f}x the p95."
    )


def report_weight(pages: Sequence[Page]) -> None:
    encodings = {w.encoding for page in pages for w in page.weights} - {""}
    print()
    if encodings:
        print(
            f"Page weight, first visit (nothing cached); the app compresses ({', '.join(sorted(encodings))})."
        )
    else:
        print(
            f"Page weight, first visit (nothing cached). The app does not compress: asked with "
            f"Accept-Encoding: {ACCEPT_ENCODING},"
        )
        print(
            f"it sent no Content-Encoding, so 'sent' is the raw bytes; 'gzip' is gzip -{GZIP_LEVEL} of the "
            "same, what a compressing reverse proxy would send."
        )
    print(f"Transferred = bodies + response headers; target under {PAGE_TARGET_BYTES:,} B.")
    for page in pages:
        print()
        print(f"{page.label}:")
        print(f"  {'resource':<36} {'kind':<10} {'sent B':>8} {'gzip B':>8} {'headers B':>9}  note")
        for w in page.weights:
            print(f"  {w.url:<36} {w.kind:<10} {w.sent:>8,} {w.gzipped:>8,} {w.headers:>9,}  {w.note}")
        sent, zipped, headers = page.total()
        transferred = sent + headers
        verdict = "under" if transferred < PAGE_TARGET_BYTES else "OVER"
        print(
            f"  {'first load':<36} {'':<10} {sent:>8,} {zipped:>8,} {headers:>9,}  transferred "
            f"{transferred:,} B ({verdict} target); with gzip {zipped + headers:,} B"
        )
        later_sent, later_zipped, later_headers = page.total(on_demand=True)
        if later_sent:
            print(
                f"  {'then, when the form is sent':<36} {'':<10} {later_sent:>8,} {later_zipped:>8,} "
                f"{later_headers:>9,}"
            )
        css = "one file" if page.stylesheets == 1 else f"{page.stylesheets} files, each render-blocking"
        print(
            f"  first paint: {page.blocking_scripts} render-blocking script(s) of {page.scripts} "
            f"({page.inline_scripts} inline); CSS: {css}"
        )


# --- the run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    results: dict[str, Result]
    connections: list[int]
    pages: list[Page]
    plan: Plan


async def measure(server: Server, info: str, requests: int, rounds: int) -> Run:
    plan = Plan()
    results, connections = await measure_speed(server, info, plan, requests, rounds)
    pages = await measure_weight(server, plan)
    return Run(results, connections, pages, plan)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--requests",
        type=int,
        default=DEFAULT_REQUESTS,
        help=f"requests of each measure per round (default {DEFAULT_REQUESTS:,})",
    )
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help=f"rounds (default {DEFAULT_ROUNDS})"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="server worker processes (default: one per core)",
    )
    args = parser.parse_args(argv)
    if args.requests < CLIENTS * 10 or args.rounds < 1:
        parser.error(f"use at least {CLIENTS * 10} requests and 1 round")
    if args.workers < 1:
        parser.error("--workers must be at least 1")

    with demo_template() as (template, _), pg.fresh_database(template, prefix="gea_bench") as url:
        info = pg.conninfo(url)
        with server_process(url, args.workers) as server:
            run = asyncio.run(measure(server, info, args.requests, args.rounds))
        feedback, tickets = check_database(info, run.plan, extra_addresses=1)
    report_speed(run.results, server, args.requests, args.rounds, run.connections)
    print(
        f"Every POST was accepted: {feedback:,} submissions stored, {tickets:,} tickets made "
        f"({100 * tickets / feedback:.0f}%), from {run.plan.post_from.distinct + 1:,} addresses; "
        f"{sum(run.plan.scans.values()):,} scans counted, as many as GETs sent."
    )
    report_weight(run.pages)


if __name__ == "__main__":
    main()
