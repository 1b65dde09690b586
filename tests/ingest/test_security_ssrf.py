"""SSRF attacks on the URLs a studio names: master sources (fetches) and callback URLs.

No test here resolves a name through the machine's DNS or sends a byte to a non-loopback
address. `Net` is the test plumbing that stands in for the internet: it replaces
``socket.getaddrinfo`` (names refused; the product must use the injected resolver) and
``socket.create_connection`` (every attempt recorded; FAKE_PUBLIC is routed to a loopback
listener that plays a public server; loopback passes; any other address is refused
without a packet). The resolver each test injects is a plain function, so what a name
"resolves to" is exactly what the attack needs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reelflow.ingest import public_address
from reelflow.ingest.fetch import fetch_to
from reelflow.ingest.public_address import NonPublicAddress, non_public_reason, resolve_public
from reelflow.ingest.sources import MAX_REDIRECTS, BadSource, TransientSourceError
from reelflow.jobs.webhooks import Notification, RefusedCallback, _post
from reelflow.storage import LocalStore

# A public address (example.com's old one) that Net routes to a loopback listener.
FAKE_PUBLIC = "93.184.216.34"
PAYLOAD = b"master-bytes" * 1000
KEY = b"k" * 32

# Every class the public-address rule refuses, with one or more members each.
REFUSED: list[tuple[str, str]] = [
    ("loopback", "127.0.0.1"),
    ("loopback", "127.255.255.254"),
    ("loopback", "::1"),
    ("private", "10.0.0.1"),
    ("private", "172.16.0.1"),
    ("private", "172.31.255.255"),
    ("private", "192.168.1.1"),
    ("link-local", "169.254.169.254"),
    ("link-local", "fe80::1"),
    ("CGNAT", "100.64.0.1"),
    ("CGNAT", "100.127.255.254"),
    ("multicast", "224.0.0.1"),
    ("multicast", "239.255.255.250"),
    ("multicast", "ff02::1"),
    ("multicast", "ff0e::1"),
    ("unspecified", "0.0.0.0"),
    ("unspecified", "0.1.2.3"),
    ("unspecified", "::"),
    ("reserved", "240.0.0.1"),
    ("reserved", "255.255.255.255"),
    ("IETF protocol assignments", "192.0.0.8"),
    ("benchmarking", "198.18.0.1"),
    ("6to4 relay anycast", "192.88.99.1"),
    ("IPv4-mapped", "::ffff:127.0.0.1"),
    ("IPv4-mapped", "::ffff:169.254.169.254"),
    ("IPv4-mapped", "::ffff:8.8.8.8"),
    ("IPv4-compatible", "::127.0.0.1"),
    ("NAT64 of link-local", "64:ff9b::a9fe:a9fe"),
    ("NAT64 of loopback", "64:ff9b::7f00:1"),
    ("NAT64 of private", "64:ff9b::a00:1"),
    ("local NAT64 /96 of link-local", "64:ff9b:1::a9fe:a9fe"),
    ("local NAT64 /48 of link-local", "64:ff9b:1:a9fe:a9:fe00::"),
    ("6to4 of link-local", "2002:a9fe:a9fe::1"),
    ("6to4 of loopback", "2002:7f00:1::1"),
    ("6to4 of private", "2002:c0a8:101::1"),
    ("Teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2"),
    ("Teredo", "2001::1"),
    ("unique-local", "fc00::1"),
    ("unique-local", "fd12:3456::1"),
    ("site-local", "fec0::1"),
    ("discard-only", "100::1"),
    ("documentation", "192.0.2.1"),
    ("documentation", "198.51.100.1"),
    ("documentation", "203.0.113.1"),
    ("documentation", "2001:db8::1"),
    ("documentation", "3fff::1"),
    ("outside global unicast", "4000::1"),
]
PUBLIC = ["8.8.8.8", "1.1.1.1", FAKE_PUBLIC, "2606:4700:4700::1111", "64:ff9b::808:808"]
PUBLIC += ["2002:808:808::1"]


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


# ---- the stand-in internet -------------------------------------------------------------


class CountingServer(ThreadingHTTPServer):
    """An HTTP server that counts the TCP connections it accepts."""

    connections = 0

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True


@dataclass
class Net:
    public_port: int = 0
    attempts: list[tuple[str, int]] = field(default_factory=list)
    names_asked: list[str] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_connect = socket.create_connection
        real_getaddrinfo = socket.getaddrinfo

        def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
            host, port = str(address[0]), int(address[1])
            self.attempts.append((host, port))
            ip = ipaddress.ip_address(host)  # ValueError: the product connected by name
            if host == FAKE_PUBLIC:
                return real_connect(("127.0.0.1", self.public_port), *args, **kwargs)
            if ip.is_loopback:
                return real_connect((host, port), *args, **kwargs)
            raise ConnectionRefusedError(f"test guard: no traffic to {host}")

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else str(host)
            try:
                ipaddress.ip_address(name.split("%", 1)[0])
            except ValueError:
                self.names_asked.append(name)
                raise socket.gaierror(socket.EAI_NONAME, "test guard: no DNS") from None
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket, "create_connection", create_connection)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def non_loopback_attempts(self) -> list[tuple[str, int]]:
        return [(h, p) for h, p in self.attempts if h != FAKE_PUBLIC and h != "127.0.0.1"]


class Handler(BaseHTTPRequestHandler):
    hosts: list[str] = []

    def _route(self) -> None:
        type(self).hosts.append(self.headers.get("Host", ""))
        redirects = {
            "/to-metadata": "http://169.254.169.254/latest/meta-data/",
            "/to-internal-name": "http://intranet.test/secret",
            "/to-nat64": "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
            "/to-mapped": "http://[::ffff:127.0.0.1]/",
            "/to-public-name": "http://cdn.test/master.mp4",
            "/loop": "/loop",
            "/to-self-other-path": "/never",
        }
        if self.path in redirects:
            self.send_response(302)
            self.send_header("Location", redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/never":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = PAYLOAD if self.path == "/master.mp4" else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._route()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[..., CountingServer]]:
    started: list[CountingServer] = []

    def start(context: ssl.SSLContext | None = None) -> CountingServer:
        server = CountingServer(("127.0.0.1", 0), Handler)
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch, serve: Callable[..., CountingServer]) -> Net:
    Handler.hosts = []
    public = serve()
    n = Net(public_port=public.server_address[1])
    n.install(monkeypatch)
    return n


def resolver_for(table: dict[str, Sequence[str]], calls: list[str] | None = None) -> Any:
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise public_address.UnresolvableHost(f"{host!r} unknown to the test resolver")
        return list(table[host])

    return resolve


def _fetch(url: str, tmp_path: Path, resolver: Any) -> bytes:
    out = tmp_path / "master"
    fetch_to(
        url,
        out,
        store=LocalStore(tmp_path / "objects"),
        max_bytes=10**8,
        timeout_s=5,
        public_only=True,
        resolver=resolver,
    )
    return out.read_bytes()


def _note(url: str) -> Notification:
    return Notification(
        delivery_id="notify-test",
        title_id="t",
        version=1,
        event="published",
        callback_url=url,
        occurred_at="2026-01-01T00:00:00+00:00",
    )


# ---- the rule ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "address"), REFUSED)
def test_the_rule_refuses_every_non_public_class(kind: str, address: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) is not None, kind


@pytest.mark.parametrize("address", PUBLIC)
def test_the_rule_passes_public_addresses(address: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) is None


def test_loopback_allowance_lets_loopback_and_nothing_else_through() -> None:
    for address in ("127.0.0.1", "127.9.9.9", "::1"):
        assert non_public_reason(ipaddress.ip_address(address), allow_loopback=True) is None
    for kind, address in REFUSED:
        if kind != "loopback":
            reason = non_public_reason(ipaddress.ip_address(address), allow_loopback=True)
            assert reason is not None, (kind, address)


# ---- refused as literals and through names, by all three paths -------------------------


@pytest.mark.parametrize(("kind", "address"), REFUSED)
def test_refused_as_a_literal(kind: str, address: str, net: Net, tmp_path: Path) -> None:
    url = f"http://{_url_host(address)}:8080/x"
    never = resolver_for({})  # a literal is never resolved
    with pytest.raises(BadSource, match="non-public"):
        _fetch(url, tmp_path, never)
    with pytest.raises(RefusedCallback, match="non-public"):
        _post(_note(url), KEY, resolver=never)
    assert net.attempts == [] and net.names_asked == []


@pytest.mark.parametrize(("kind", "address"), REFUSED)
def test_refused_through_a_name(kind: str, address: str, net: Net, tmp_path: Path) -> None:
    calls: list[str] = []
    # Alone, and hidden behind a public answer: one internal answer refuses the name.
    for answers in ([address], [FAKE_PUBLIC, address]):
        resolver = resolver_for({"evil.test": answers}, calls)
        with pytest.raises(BadSource, match="non-public"):
            _fetch("http://evil.test/master.mp4", tmp_path, resolver)
        with pytest.raises(RefusedCallback, match="non-public"):
            _post(_note("https://evil.test/hook"), KEY, resolver=resolver)
        with pytest.raises(NonPublicAddress):
            resolve_public("evil.test", 443, resolver=resolver)
    assert net.attempts == [] and net.names_asked == []
    assert set(calls) == {"evil.test"}


def test_scoped_link_local_answers_are_refused(net: Net, tmp_path: Path) -> None:
    resolver = resolver_for({"evil.test": ["fe80::1%eth0"]})
    with pytest.raises(BadSource, match="non-public"):
        _fetch("http://evil.test/x", tmp_path, resolver)
    assert net.attempts == []


def test_legacy_spellings_are_resolved_then_refused(net: Net, tmp_path: Path) -> None:
    # 127.1, 2130706433 and 0x7f000001 are no ipaddress literals: they go to the resolver
    # (getaddrinfo turns them into 127.0.0.1), whose answer is judged.
    resolver = resolver_for({"127.1": ["127.0.0.1"], "2130706433": ["127.0.0.1"]})
    for url in ("http://127.1/x", "http://2130706433/x"):
        with pytest.raises(BadSource, match="non-public"):
            _fetch(url, tmp_path, resolver)
    assert net.attempts == []


# ---- fetches: every redirect hop is checked and pinned ----------------------------------


def test_a_public_source_is_fetched_from_its_pinned_address(net: Net, tmp_path: Path) -> None:
    calls: list[str] = []
    resolver = resolver_for({"media.test": [FAKE_PUBLIC]}, calls)
    assert _fetch("http://media.test/master.mp4", tmp_path, resolver) == PAYLOAD
    assert calls == ["media.test"] and net.attempts == [(FAKE_PUBLIC, 80)]
    assert Handler.hosts == ["media.test"]  # the Host header keeps the name
    assert net.names_asked == []


@pytest.mark.parametrize("path", ["/to-metadata", "/to-internal-name", "/to-nat64", "/to-mapped"])
def test_redirects_to_internal_hosts_are_refused(path: str, net: Net, tmp_path: Path) -> None:
    resolver = resolver_for({"media.test": [FAKE_PUBLIC], "intranet.test": ["10.0.0.5"]})
    with pytest.raises(BadSource, match="non-public"):
        _fetch(f"http://media.test{path}", tmp_path, resolver)
    # The first hop was made, the redirect target never got a connection.
    assert net.attempts == [(FAKE_PUBLIC, 80)]


def test_each_redirect_hop_is_resolved_and_pinned(net: Net, tmp_path: Path) -> None:
    calls: list[str] = []
    resolver = resolver_for({"media.test": [FAKE_PUBLIC], "cdn.test": [FAKE_PUBLIC]}, calls)
    assert _fetch("http://media.test/to-public-name", tmp_path, resolver) == PAYLOAD
    assert calls == ["media.test", "cdn.test"]
    assert net.attempts == [(FAKE_PUBLIC, 80), (FAKE_PUBLIC, 80)]
    assert Handler.hosts == ["media.test", "cdn.test"]


def test_redirect_loops_end(net: Net, tmp_path: Path) -> None:
    resolver = resolver_for({"media.test": [FAKE_PUBLIC]})
    with pytest.raises(BadSource, match="redirects"):
        _fetch("http://media.test/loop", tmp_path, resolver)
    assert len(net.attempts) == MAX_REDIRECTS + 1


# ---- DNS rebinding -------------------------------------------------------------------


def _rebinding(calls: list[str]) -> Any:
    """Public on the first lookup, loopback on every later one."""

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return [FAKE_PUBLIC] if len(calls) == 1 else ["127.0.0.1"]

    return resolve


def test_rebinding_cannot_turn_a_fetch_inwards(
    net: Net, serve: Callable[..., CountingServer], tmp_path: Path
) -> None:
    internal = serve()  # what 127.0.0.1 answers on the URL's port
    port = internal.server_address[1]
    calls: list[str] = []
    assert _fetch(f"http://rebind.test:{port}/master.mp4", tmp_path, _rebinding(calls)) == PAYLOAD
    assert calls == ["rebind.test"]  # resolved once, for the check and the connection
    assert net.attempts == [(FAKE_PUBLIC, port)]
    assert internal.connections == 0
    # The counter works: a request straight to the internal listener is counted.
    assert httpx.get(f"http://127.0.0.1:{port}/x").status_code == 200
    assert internal.connections == 1


def test_rebinding_cannot_turn_a_callback_inwards(
    net: Net, serve: Callable[..., CountingServer]
) -> None:
    internal = serve()
    port = internal.server_address[1]
    calls: list[str] = []
    status = _post(_note(f"http://rebind.test:{port}/hook"), KEY, resolver=_rebinding(calls))
    assert status == 200
    assert calls == ["rebind.test"] and net.attempts == [(FAKE_PUBLIC, port)]
    assert internal.connections == 0


def test_each_callback_attempt_is_checked_again(net: Net) -> None:
    # Ingest saw a public answer; by delivery time the name points inside: refused, and
    # no connection is made.
    calls: list[str] = []
    answers = iter([[FAKE_PUBLIC], ["169.254.169.254"]])

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    assert _post(_note("http://hooks.test/h"), KEY, resolver=resolver) == 200
    with pytest.raises(RefusedCallback, match="link-local"):
        _post(_note("http://hooks.test/h"), KEY, resolver=resolver)
    assert calls == ["hooks.test", "hooks.test"]
    assert net.attempts == [(FAKE_PUBLIC, 80)]


# ---- callbacks: redirects are not followed ---------------------------------------------


@pytest.mark.parametrize("path", ["/to-metadata", "/to-self-other-path", "/to-public-name"])
def test_callback_redirects_are_not_followed(path: str, net: Net) -> None:
    resolver = resolver_for({"hooks.test": [FAKE_PUBLIC]})
    assert _post(_note(f"http://hooks.test{path}"), KEY, resolver=resolver) == 302
    assert net.attempts == [(FAKE_PUBLIC, 80)]
    assert Handler.hosts == ["hooks.test"]  # one request; /never was not asked for


def test_unresolvable_callback_hosts_are_retried_not_refused(net: Net) -> None:
    from reelflow.jobs.webhooks import TransientDeliveryError

    with pytest.raises(TransientDeliveryError, match="unknown"):
        _post(_note("http://gone.test/h"), KEY, resolver=resolver_for({}))
    assert net.attempts == []


# ---- TLS: the pin keeps SNI and certificate checks on the name ---------------------------


def _certificate(tmp_path: Path, name: str, ca: tuple[Any, Any]) -> tuple[Path, Path]:
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def test_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reelflow test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_path))  # the only CA the client trusts
    return key, cert


def _tls_server(
    serve: Callable[..., CountingServer], cert: tuple[Path, Path], sni: list[str | None]
) -> CountingServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    context.sni_callback = lambda _sock, name, _ctx: sni.append(name)  # type: ignore[assignment,misc,return-value]
    return serve(context)


def test_tls_to_a_pinned_address_verifies_the_name(
    net: Net, serve: Callable[..., CountingServer], tmp_path: Path, test_ca: tuple[Any, Any]
) -> None:
    sni: list[str | None] = []
    server = _tls_server(serve, _certificate(tmp_path, "media.test", test_ca), sni)
    net.public_port = server.server_address[1]
    resolver = resolver_for({"media.test": [FAKE_PUBLIC]})
    got = _fetch(f"https://media.test:{net.public_port}/master.mp4", tmp_path, resolver)
    assert got == PAYLOAD
    assert sni == ["media.test"]  # SNI names the host, not the pinned address
    assert Handler.hosts == [f"media.test:{net.public_port}"]
    assert net.attempts == [(FAKE_PUBLIC, net.public_port)]


def test_tls_with_a_certificate_for_another_name_fails(
    net: Net, serve: Callable[..., CountingServer], tmp_path: Path, test_ca: tuple[Any, Any]
) -> None:
    sni: list[str | None] = []
    server = _tls_server(serve, _certificate(tmp_path, "other.test", test_ca), sni)
    net.public_port = server.server_address[1]
    resolver = resolver_for({"media.test": [FAKE_PUBLIC]})
    with pytest.raises(TransientSourceError, match=r"CERTIFICATE_VERIFY_FAILED|match"):
        _fetch(f"https://media.test:{net.public_port}/master.mp4", tmp_path, resolver)
    assert Handler.hosts == []  # no request was sent over the unverified connection
