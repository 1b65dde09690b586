"""A real shaped link for bench/qoe.py: Chromium in a network namespace of its own, behind
a veth pair whose host end carries a token-bucket qdisc (``tc ... tbf``).

    host (API, static server bound to 10.213.51.1)  --veth, tbf on the host end-->  netns
                                                                                 (Chromium)

The tbf on the host end shapes what the servers send to the browser (the download
direction); requests go up unshaped. tbf limits the rate with a queue (packets beyond it
wait, then drop, so TCP sees a real bottleneck) but adds no delay, and netem is not in this
kernel: round-trip latency still comes from DevTools' emulation, per request.

Only the private subnet 10.213.51.0/24, which exists only on this veth pair, is used.
Everything made here (namespace, link, the wrapper script) is removed on exit, also when
the run fails; every wait is bounded.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SUBNET = "10.213.51"
HOST_ADDR = f"{SUBNET}.1"
NS_ADDR = f"{SUBNET}.2"
CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 10


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=TIMEOUT_S, capture_output=True)


@dataclass(frozen=True)
class ShapedLink:
    namespace: str
    host_if: str
    scratch: Path

    def chromium(self, origins: list[str]) -> Path:
        """A wrapper that runs Chromium inside the namespace. ``origins`` (the servers on
        the veth) are treated as secure: EME, which ClearKey needs, is for secure contexts
        only, and a private address over http is not one (loopback is)."""
        wrapper = self.scratch / "chromium-in-netns"
        # Playwright talks to Chromium over inherited pipes: `ip netns exec` keeps them.
        wrapper.write_text(
            f"#!/bin/sh\nexec ip netns exec {self.namespace} {CHROMIUM} "
            f'--unsafely-treat-insecure-origin-as-secure={",".join(origins)} "$@"\n'
        )
        wrapper.chmod(0o755)
        return wrapper

    def rate(self, down_kbps: float) -> None:
        """Set the download rate (server -> browser) of the link."""
        rate_bit = int(down_kbps * 1000)
        # burst: a few MTU-sized packets at least and ~20 ms of the rate; a queue of 300 ms
        # (tbf's latency: how long a packet may wait before it is dropped).
        burst = max(15_000, rate_bit // 8 // 50)
        subprocess.run(
            ["tc", "qdisc", "replace", "dev", self.host_if, "root", "tbf",
             "rate", f"{rate_bit}bit", "burst", str(burst), "latency", "300ms"],
            check=True, timeout=TIMEOUT_S, capture_output=True,
        )  # fmt: skip


@contextmanager
def shaped_link() -> Iterator[ShapedLink]:
    if os.geteuid() != 0:
        raise SystemExit("--shaping tbf needs root (ip netns, tc)")
    tag = f"{os.getpid() % 100_000}"
    ns, host_if, ns_if = f"rfqoe{tag}", f"rfq{tag}h", f"rfq{tag}n"
    made_ns = made_link = False
    with tempfile.TemporaryDirectory(prefix="reelflow-shaped-") as scratch:
        try:
            _ip("netns", "add", ns)
            made_ns = True
            _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns)
            made_link = True
            _ip("addr", "add", f"{HOST_ADDR}/24", "dev", host_if)
            _ip("link", "set", host_if, "up")
            _ip("-n", ns, "addr", "add", f"{NS_ADDR}/24", "dev", ns_if)
            _ip("-n", ns, "link", "set", ns_if, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            yield ShapedLink(ns, host_if, Path(scratch))
        finally:
            if made_link:  # deleting one end removes its peer in the namespace
                subprocess.run(["ip", "link", "del", host_if], timeout=TIMEOUT_S, check=False)
            if made_ns:
                subprocess.run(["ip", "netns", "del", ns], timeout=TIMEOUT_S, check=False)
