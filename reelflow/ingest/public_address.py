"""The one public-address rule for outbound requests a studio can aim (SSRF), and the
pinned HTTP transport that connects only to the addresses the rule passed.

Studios name URLs that reelflow's workers request: master and subtitle sources (fetched by
``reelflow.ingest.sources``) and callback URLs (posted to by ``reelflow.jobs.webhooks``).
Those workers sit inside the deployment, so every such request goes through here:

1. ``resolve_public`` resolves the host once (a literal address is not resolved) and
   refuses the request unless every address is public (``non_public_reason``);
2. ``pinned_client`` connects to exactly those addresses, while the URL, the ``Host``
   header, TLS SNI and certificate verification keep the original name. A DNS answer that
   changes between the check and the connection (rebinding) is never looked at, because
   the connection does not resolve the name again.

The rule is written out rather than taken from ``ipaddress``'s ``is_global``, which (on
Python 3.11) passes IPv4-mapped, NAT64-local, 6to4 and 3fff::/20 addresses. Addresses
that carry an IPv4 address inside (NAT64, 6to4) are judged by that IPv4 address.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpcore
import httpx

__all__ = [
    "IPAddress",
    "NonPublicAddress",
    "Resolver",
    "UnresolvableHost",
    "non_public_reason",
    "pinned_client",
    "resolve_public",
    "system_resolver",
    "url_host_port",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as strings. Injectable so tests can
# answer for names that do not exist without touching the machine's resolver.
Resolver = Callable[[str, int], Sequence[str]]

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked in order; the first match names the reason.
_IPV4_REFUSED: tuple[tuple[_V4, str], ...] = (
    (_V4("0.0.0.0/8"), "unspecified ('this network')"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "shared address space (CGNAT)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments"),
    (_V4("192.0.2.0/24"), "documentation (TEST-NET-1)"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation (TEST-NET-2)"),
    (_V4("203.0.113.0/24"), "documentation (TEST-NET-3)"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
)
_IPV6_REFUSED: tuple[tuple[_V6, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::ffff:0:0/96"), "IPv4-mapped"),
    (_V6("::/96"), "IPv4-compatible (deprecated)"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/32"), "Teredo"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("fc00::/7"), "unique-local"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local (deprecated)"),
    (_V6("ff00::/8"), "multicast"),
)
_NAT64_WELL_KNOWN = _V6("64:ff9b::/96")
# RFC 8215 local-use NAT64: the translator's prefix may be /48, /56, /64 or /96 inside it,
# so every position the IPv4 address could sit at must be public (which in practice
# refuses nearly all of the range: a /96 layout leaves zeros at the /48 position).
_NAT64_LOCAL = _V6("64:ff9b:1::/48")
_NAT64_LOCAL_PREFIXES = (48, 56, 64, 96)
_6TO4 = _V6("2002::/16")
_GLOBAL_UNICAST = _V6("2000::/3")
_LOOPBACK = (_V4("127.0.0.0/8"), _V6("::1/128"))


class NonPublicAddress(ValueError):
    """The host is, or resolves to, an address outside the public internet."""


class UnresolvableHost(ValueError):
    """The host does not resolve (or resolves to nothing usable)."""


def _rfc6052_ipv4(address: ipaddress.IPv6Address, prefix_len: int) -> ipaddress.IPv4Address:
    """The IPv4 address embedded after a NAT64 prefix of `prefix_len` bits (RFC 6052 2.2:
    bits 64-71 are the reserved "u" octet and never carry address bits)."""
    packed = address.packed
    if prefix_len == 96:
        return ipaddress.IPv4Address(packed[12:])
    without_u = packed[:8] + packed[9:]
    start = prefix_len // 8
    return ipaddress.IPv4Address(without_u[start : start + 4])


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses a translating prefix would reach; None for other addresses."""
    if address in _NAT64_WELL_KNOWN:
        return [_rfc6052_ipv4(address, 96)]
    if address in _NAT64_LOCAL:
        return [_rfc6052_ipv4(address, n) for n in _NAT64_LOCAL_PREFIXES]
    if address in _6TO4:
        return [ipaddress.IPv4Address(address.packed[2:6])]
    return None


def non_public_reason(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why `address` is not public (a class name such as "link-local"), or None if it is.

    `allow_loopback` lets 127/8 and ::1 through and nothing else: it exists for tests that
    talk to a receiver on this machine (see ``Settings.allow_loopback_callbacks``).
    """
    if allow_loopback and any(address in net for net in _LOOPBACK):
        return None
    if isinstance(address, ipaddress.IPv4Address):
        for net4, reason in _IPV4_REFUSED:
            if address in net4:
                return reason
        return None if address.is_global else "not globally routable"
    for net6, reason in _IPV6_REFUSED:
        if address in net6:
            return reason
    if address.scope_id:
        return "scoped (zone index)"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        for inner in embedded:
            inner_reason = non_public_reason(inner)
            if inner_reason is not None:
                return f"NAT64/6to4 whose IPv4 address is {inner_reason}"
        return None
    if address not in _GLOBAL_UNICAST:
        return "outside global unicast (2000::/3)"
    return None if address.is_global else "not globally routable"


def system_resolver(host: str, port: int) -> list[str]:
    """The machine's resolver (getaddrinfo), TCP addresses only."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"host {host!r} does not resolve: {exc}") from exc
    return [str(info[4][0]) for info in infos]


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve_public(
    host: str, port: int, *, resolver: Resolver | None = None, allow_loopback: bool = False
) -> tuple[IPAddress, ...]:
    """Resolve `host` once and return its addresses if every one of them is public.

    NonPublicAddress names the first refused class (never the address); UnresolvableHost
    when there is nothing to connect to. One refused address refuses the host: a name
    with a public and an internal answer is an attack, not a misconfiguration.
    """
    literal = _literal(host.strip("[]"))
    if literal is not None:
        found: list[IPAddress] = [literal]
    else:
        answers = (resolver or system_resolver)(host, port)
        found = []
        for answer in answers:
            parsed = _literal(answer)
            if parsed is None:
                raise UnresolvableHost(f"host {host!r} resolved to something not an address")
            found.append(parsed)
    if not found:
        raise UnresolvableHost(f"host {host!r} resolves to no address")
    for address in found:
        reason = non_public_reason(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise NonPublicAddress(
                f"host {host!r} is or resolves to a non-public address ({reason})"
            )
    return tuple(dict.fromkeys(found))


class _PinnedBackend(httpcore.SyncBackend):
    """Opens TCP connections to the pinned addresses of each host, never resolving."""

    def __init__(self, pins: Mapping[str, Sequence[IPAddress]]) -> None:
        self._pins = {host.lower(): tuple(addresses) for host, addresses in pins.items()}

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._pins.get(host.lower())
        if not addresses:
            # Fail closed: a host nobody checked (e.g. a redirect target) gets no socket.
            raise httpcore.ConnectError(f"no checked address for host {host!r}")
        last: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last


@functools.lru_cache(maxsize=4)
def _ssl_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """What httpx would build: SSL_CERT_FILE, else SSL_CERT_DIR, else certifi's bundle.
    Cached because loading a bundle costs ~0.3 s; a context is safe to share by threads."""
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    if capath:
        return ssl.create_default_context(capath=capath)
    return httpx.create_ssl_context(trust_env=False)


class _PinnedTransport(httpx.HTTPTransport):
    def __init__(self, pins: Mapping[str, Sequence[IPAddress]]) -> None:
        context = _ssl_context(
            os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None
        )
        # No proxy: a proxy would resolve the name itself.
        super().__init__(verify=context, trust_env=False)
        # httpx 0.28 has no network-backend argument, so the pool it built is replaced by
        # the same pool over the pinning backend (tests/ingest/test_security_ssrf.py
        # proves the pin, SNI and certificate checks hold on the installed versions).
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=4,
            max_keepalive_connections=0,
            http1=True,
            http2=False,
            network_backend=_PinnedBackend(pins),
        )


def url_host_port(url: str) -> tuple[str, int]:
    """The host as the connection layer will name it (IDNA-encoded, IPv6 unbracketed) and
    the port (scheme default when absent)."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise ValueError("not an absolute http(s) URL")
    return parsed.raw_host.decode("ascii"), parsed.port or (443 if parsed.scheme == "https" else 80)


def pinned_client(
    url: str,
    *,
    timeout: httpx.Timeout | float,
    resolver: Resolver | None = None,
    allow_loopback: bool = False,
) -> httpx.Client:
    """An httpx client for one request to `url`: the host is checked (NonPublicAddress,
    UnresolvableHost) and connections go only to the checked addresses. Redirects are not
    followed; a caller that follows one builds a new client for the next hop."""
    host, port = url_host_port(url)
    addresses = resolve_public(host, port, resolver=resolver, allow_loopback=allow_loopback)
    return httpx.Client(
        transport=_PinnedTransport({host: addresses}),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
