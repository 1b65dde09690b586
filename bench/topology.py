"""The multi-host topology measured (tests/topology/harness.py: one network namespace per
role on a private bridge, production settings). Printed, each beside its baseline:

1. A title's wall time (ingest command to published) with one media host, then with two:
   which host ran each chunk and how long each took. Not a speedup claim: every host shares
   this machine's two cores, so two media hosts mostly show how the work spreads.
2. Segment throughput through the edge (secure_link + proxy_cache in front of the API
   replicas' embedded origin on S3), cold cache then warm, beside nginx on the same edge
   host serving the same files from its local disk.
3. Playback starts per second through the edge (two API replicas upstream) beside one
   replica called directly.

Every request goes to bridge addresses only; every loop has a fixed count and a time cap.

    sudo .venv/bin/python bench/topology.py [--seconds 300] [--requests 300] [--threads 8]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reelflow.playback_api.auth.signing import media_link_secret, sign_prefix  # noqa: E402
from tests.services import wait_for_port  # noqa: E402
from tests.topology import lifecycle as lc  # noqa: E402
from tests.topology.harness import (  # noqa: E402
    BUCKET,
    NGINX,
    RENDER,
    Topology,
    edge_cache_statuses,
    http,
    topology,
)

LOCAL_EDGE_PORT = 8081
TIME_CAP_S = 120.0


def timed_fetches(
    calls: Sequence[Callable[[], tuple[int, int]]], threads: int
) -> tuple[float, int, int, int]:
    """Run each call once on a pool, stopping at the time cap: (seconds, ok, failed, bytes)."""
    start = time.monotonic()
    ok = failed = size = 0
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(c) for c in calls]
        for fut in concurrent.futures.as_completed(futures, timeout=TIME_CAP_S):
            code, n = fut.result()
            if code in (200, 201):
                ok += 1
                size += n
            else:
                failed += 1
    return time.monotonic() - start, ok, failed, size


def _get(url: str) -> Callable[[], tuple[int, int]]:
    def call() -> tuple[int, int]:
        code, _, body = http("GET", url, timeout_s=30)
        return code, len(body)

    return call


def title_wall_time(topo: Topology, title_id: str, seconds: float, workdir: Path) -> float:
    start = time.monotonic()
    lc.ingest(topo, title_id, workdir, seconds=seconds)
    state = lc.wait_state(topo, title_id, {"published", "failed", "qc_failed"}, 900)
    if state != "published":
        raise RuntimeError(f"{title_id} ended {state}")
    return time.monotonic() - start


def report_title(label: str, wall: float, topo: Topology, title_id: str) -> None:
    runs = lc.chunk_runs(topo, title_id)
    per_host: dict[str, int] = {}
    for r in runs:
        per_host[r.identity] = per_host.get(r.identity, 0) + 1
    print(f"  {label}: {wall:.1f} s wall; chunks per host {per_host}")
    print("    per chunk (index host seconds):",
          ", ".join(f"{r.chunk} {r.identity} {r.seconds:.1f}" for r in runs))  # fmt: skip


def start_local_edge(topo: Topology, title_id: str, workdir: Path) -> str:
    """nginx on the edge host serving the package from local files (the same template)."""
    root = workdir / "published"
    store = lc.store(topo)
    for key in lc.bucket_keys(topo, f"origin/{title_id}/"):
        dest = root / key.removeprefix("origin/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        store.fget_object(BUCKET, key, str(dest))
    for path in [workdir, *workdir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    runtime = workdir / "local-edge"
    runtime.mkdir(mode=0o755)
    secret = workdir / "secret"
    secret.write_text(media_link_secret(topo.signing_secret.encode()))
    conf = runtime / "edge.conf"
    listen = f"{topo.addr('edge')}:{LOCAL_EDGE_PORT}"
    subprocess.run(
        ["python3", str(RENDER), "--listen", listen, "--root", str(root),
         "--runtime-dir", str(runtime), "--secret-file", str(secret), "--output", str(conf)],
        check=True,
    )  # fmt: skip
    topo.add("local-edge", "edge", [str(NGINX), "-c", str(conf), "-p", str(runtime),
                                    "-g", "daemon off;"])  # fmt: skip
    wait_for_port(LOCAL_EDGE_PORT, host=topo.addr("edge"))
    return f"http://{listen}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=300.0, help="title length (60 s chunks)")
    parser.add_argument("--requests", type=int, default=300, help="playback starts per side")
    parser.add_argument("--passes", type=int, default=3, help="warm passes over the segments")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-topology-"))
    with topology() as topo:
        print(f"topology up: prefix {topo.hosts.prefix}, subnet {topo.hosts.subnet}.0/24")
        print("1. title wall time (2 shared cores: distribution, not speedup)")
        topo.services["media-2"].stop()
        one = title_wall_time(topo, "bench-one-host", args.seconds, workdir)
        report_title("one media host ", one, topo, "bench-one-host")
        topo.services["media-2"].start()
        time.sleep(5)  # the worker connects and polls
        two = title_wall_time(topo, "bench-two-hosts", args.seconds, workdir)
        report_title("two media hosts", two, topo, "bench-two-hosts")
        print(f"  ratio two/one hosts wall time: {two / one:.2f}")

        print("2. segments through the edge")
        code, session = lc.start_playback(
            topo, 1, "bench-two-hosts", topo.viewer_token("bench"), "bench"
        )
        assert code == 201, session
        mpd = http("GET", session["manifests"]["dash"])[2].decode()
        urls = lc.segment_urls(mpd)
        before = len(edge_cache_statuses(topo))
        cold = timed_fetches([_get(u) for u in urls], args.threads)
        warm = timed_fetches([_get(u) for u in urls * args.passes], args.threads)
        statuses = edge_cache_statuses(topo)[before:]
        local_base = start_local_edge(topo, "bench-two-hosts", workdir)
        prefix = sign_prefix(
            media_link_secret(topo.signing_secret.encode()),
            "bench-two-hosts",
            "v1",
            int(time.time()) + 600,
            holder=session["session_id"],
        )
        local_urls = [local_base + prefix + u.split("/v1/", 1)[1] for u in urls]
        local = timed_fetches([_get(u) for u in local_urls * args.passes], args.threads)
        for label, (secs, ok, failed, size) in (("cold", cold), ("warm", warm), ("local", local)):
            print(f"  {label:5}: {ok / secs:8.1f} segments/s {size / secs / 1e6:7.1f} MB/s "
                  f"({ok} ok, {failed} failed, {secs:.2f} s)")  # fmt: skip
        hits = statuses.count("HIT")
        print(f"  edge cache hit ratio over cold+warm: {hits}/{len(statuses)} "
              f"= {hits / max(1, len(statuses)):.2f}")  # fmt: skip
        print(f"  ratio warm/cold: {(warm[1] / warm[0]) / (cold[1] / cold[0]):.2f}; "
              f"warm/local: {(warm[1] / warm[0]) / (local[1] / local[0]):.2f}")  # fmt: skip

        print("3. playback start")
        tokens = [topo.viewer_token(f"bench-start-{i}") for i in range(2 * args.requests)]

        def start(base: str, token: str) -> Callable[[], tuple[int, int]]:
            def call() -> tuple[int, int]:
                code, _, body = http(
                    "POST",
                    f"{base}/v1/titles/bench-two-hosts/playback",
                    {"device_id": "bench", "drm": ["clearkey"], "protocols": ["dash"]},
                    {"Authorization": f"Bearer {token}"},
                )
                return code, len(body)

            return call

        edge_side = timed_fetches(
            [start(topo.edge_url, t) for t in tokens[: args.requests]], args.threads
        )
        direct = timed_fetches(
            [start(topo.api_url(1), t) for t in tokens[args.requests :]], args.threads
        )
        for label, (secs, ok, failed, _) in (("2 replicas via edge", edge_side),
                                              ("1 replica direct", direct)):  # fmt: skip
            print(f"  {label:19}: {ok / secs:7.1f} starts/s ({ok} ok, {failed} failed)")
        print(f"  ratio edge(2 replicas)/direct(1): "
              f"{(edge_side[1] / edge_side[0]) / (direct[1] / direct[0]):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
