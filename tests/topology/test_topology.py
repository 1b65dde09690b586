"""The lifecycle and playback across hosts, and what survives a host, store, database or
Temporal going away (issue 12). One topology (tests/topology/harness.py) serves the module.

Every process runs in its own network namespace on a private bridge with production
settings; the test process is the studio/ops machine and the player, on the bridge's own
address. Which host encoded each chunk is read from the workflow history (the worker
identity of each encode_chunk task: REELFLOW_WORKER_IDENTITY=media-1 / media-2).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.topology import lifecycle as lc
from tests.topology.harness import (
    BUCKET,
    Topology,
    edge_cache_statuses,
    http,
    topology,
    wait_until,
)
from tests.topology.players import Players

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with topology() as t:
        yield t


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="reelflow-topology-masters-") as d:
        yield Path(d)


def _api_statuses(topo: Topology) -> list[int]:
    """HTTP status of every request both replicas logged (their JSON access logs)."""
    out = []
    for name in ("api-1", "api-2"):
        for line in topo.services[name].log.read_text(errors="replace").splitlines():
            if line.startswith('{"msg":"request"'):
                out.append(json.loads(line)["status"])
    return out


def _published(topo: Topology, title_id: str) -> None:
    assert lc.wait_state(topo, title_id, {"published", "failed", "qc_failed"}, 300) == "published"


def test_title_spreads_over_media_hosts_and_plays_across_replicas_and_edge(
    topo: Topology, workdir: Path
) -> None:
    # A studio registered in the PostgreSQL catalog is known on api-1: its signature
    # verifies there (a wrong one is 401), and the private master URL is refused (a
    # studio's source must be public, and nothing on this bridge is).
    out = topo.cli("control", "studios", "add", "acme", "--name", "Acme")
    api_key = re.search(r"rf_sk_\S+", out)
    secret = re.search(r"whsec_\S+", out)
    assert api_key and secret, out
    body = json.dumps(
        {"title_id": "from-studio", "name": "S", "source": f"http://{topo.addr('s3')}:80/m.mov"}
    ).encode()
    t = int(time.time())
    mac = hmac.new(secret.group(0).encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-Api-Key": api_key.group(0), "Idempotency-Key": "k1"}
    bad = http("POST", f"{topo.api_url(1)}/v1/studio/ingest", raw=body,
               headers={**headers, "Reelflow-Signature": f"t={t},v1={'0' * 64}"})  # fmt: skip
    assert bad[0] == 401 and b"bad_signature" in bad[2]
    refused = http("POST", f"{topo.api_url(1)}/v1/studio/ingest", raw=body,
                   headers={**headers, "Reelflow-Signature": f"t={t},v1={mac}"})  # fmt: skip
    assert refused[0] == 422 and b"source" in refused[2], refused

    lc.ingest(topo, "tt-spread", workdir)
    _published(topo, "tt-spread")
    runs = lc.chunk_runs(topo, "tt-spread")
    print("chunk distribution:", [(r.chunk, r.identity, round(r.seconds, 1)) for r in runs])
    assert sorted(r.chunk for r in runs) == [0, 1, 2]  # 150 s = 60 + 60 + 30
    assert {r.identity for r in runs} == {"media-1", "media-2"}

    # Start on api-1; manifest, heartbeat and license on api-2 (sessions live in Redis).
    code, session = lc.start_playback(topo, 1, "tt-spread", topo.viewer_token("viewer-1"), "d1")
    assert code == 201, session
    assert session["media_prefix"].startswith(topo.edge_url + "/media/")
    mpd_code, _, mpd = http("GET", lc.on_replica(topo, session["manifests"]["dash"], 2))
    assert mpd_code == 200
    beat = http("PUT", lc.on_replica(topo, session["heartbeat_url"], 2),
                {"position": 12.0, "duration": lc.TITLE_S},
                {"Authorization": f"Bearer {topo.viewer_token('viewer-1')}"})  # fmt: skip
    assert beat[0] == 200, beat
    renewed = json.loads(beat[2])
    kids = lc.default_kids(mpd.decode())
    lic = http("POST", lc.on_replica(topo, renewed["licenses"]["clearkey"], 2),
               {"kids": kids, "type": "temporary"},
               {"Authorization": f"Bearer {topo.viewer_token('viewer-1')}"})  # fmt: skip
    assert lic[0] == 200, lic
    assert {k["kid"] for k in json.loads(lic[2])["keys"]} == set(kids)

    # Segments through the edge: a first viewer fills the cache, a second one hits it.
    urls = lc.segment_urls(mpd.decode())
    assert len(urls) > 20
    before = len(edge_cache_statuses(topo))
    for url in urls:
        assert http("GET", url)[0] == 200, url
    # Links expire at start + TTL to the second: a start within the same second as the first
    # viewer's would sign the very same prefix, and prove nothing about the cache key.
    time.sleep(1.1)
    code2, second = lc.start_playback(topo, 2, "tt-spread", topo.viewer_token("viewer-2"), "d2")
    assert code2 == 201
    mpd2 = http("GET", second["manifests"]["dash"])[2].decode()  # via the edge, uncached
    urls2 = lc.segment_urls(mpd2)
    assert urls2 != urls  # another viewer's signed prefix ...
    fetched = [http("GET", u) for u in urls2]
    assert all(f[0] == 200 for f in fetched)
    statuses = edge_cache_statuses(topo)[before:]
    hits = statuses.count("HIT")
    print(f"edge cache: {hits}/{len(statuses)} hits ({hits / len(statuses):.0%}), "
          f"first viewer {statuses[: len(urls)].count('MISS')} misses")  # fmt: skip
    assert statuses[: len(urls)].count("MISS") == len(urls)
    assert statuses[len(urls) :] == ["HIT"] * len(urls2)  # ... served from the same entries
    obj = lc.store(topo).get_object(BUCKET, "origin/tt-spread/v1/" + urls2[1].split("/v1/", 1)[1])
    assert fetched[1][2] == obj.read()
    api_log = (topo.edge_runtime / "api_access.log").read_text()
    assert (
        "upstream=" + topo.addr("api-1") in api_log or "upstream=" + topo.addr("api-2") in api_log
    )


def _rendition_layout(topo: Topology, title_id: str) -> dict[str, list[str]]:
    """Encode prefix -> its keys, for the title's video renditions."""
    out: dict[str, list[str]] = {}
    for key in lc.bucket_keys(topo, f"renditions/{title_id}/"):
        prefix, rest = key.split("/")[2], "/".join(key.split("/")[3:])
        out.setdefault(prefix, []).append(rest)
    return out


def test_media_host_dies_mid_encode_title_completes_on_the_other(
    topo: Topology, workdir: Path
) -> None:
    title = "tt-hostdies"
    lc.ingest(topo, title, workdir, seconds=300.0)  # 5 chunks
    wait_until(lambda: "media-1" in lc.pending_chunk_workers(topo, title), 180,
                 "media-1 encoding a chunk", every_s=0.3)  # fmt: skip
    killed_at = time.time()
    assert topo.hosts.kill_all("media-1") > 0
    topo.services["media-1"].stop()  # reap
    try:
        _published(topo, title)
    finally:
        topo.services["media-1"].start()  # the host comes back for the next tests
    runs = lc.chunk_runs(topo, title)
    print("chunk distribution after the kill:",
          [(r.chunk, r.identity, r.attempt, round(r.seconds, 1)) for r in runs])  # fmt: skip
    assert sorted(r.chunk for r in runs) == [0, 1, 2, 3, 4]  # each completed exactly once
    assert any(r.identity == "media-2" and r.attempt > 1 for r in runs), "no retry on media-2"
    assert killed_at > 0
    layout = _rendition_layout(topo, title)
    video = {p: keys for p, keys in layout.items() if any(k.startswith("chunks/") for k in keys)}
    assert len(video) == 1, layout  # one encode of the title, not one per attempt
    (keys,) = video.values()
    rungs = sorted(k for k in keys if "/" not in k and k.endswith(".mp4"))
    assert rungs, keys
    for rung in rungs:
        parts = sorted(k for k in keys if k.startswith("chunks/") and k.endswith("/" + rung))
        assert parts == [f"chunks/{i:05d}/{rung}" for i in range(5)], parts
    packages = {k.split("/")[3] for k in lc.bucket_keys(topo, f"packages/{title}/v1/")}
    assert len(packages) == 1, packages


def _wait_stage(topo: Topology, title_id: str, stages: set[str], timeout_s: float = 120) -> None:
    wait_until(lambda: lc.status(topo, title_id).stage in stages, timeout_s,
               f"{title_id} in {stages}", every_s=0.3)  # fmt: skip


def _probe_starts(
    topo: Topology, title_id: str, seconds: float, tag: str
) -> list[tuple[int, dict]]:
    """Playback starts on api-1 every 0.5 s for ``seconds`` (a new viewer each: no lease
    limits in the way); every answer, bounded in count and time."""
    answers = []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline and i < 200:
        i += 1
        answers.append(lc.start_playback(topo, 1, title_id, topo.viewer_token(f"{tag}-{i}"), "d"))
        time.sleep(0.5)
    return answers


def test_database_restart_during_processing_and_playback(topo: Topology, workdir: Path) -> None:
    lc.ingest(topo, "tt-db", workdir)
    _wait_stage(topo, "tt-db", {"encode", "audio", "subtitles", "thumbnails"})
    topo.postgres_ctl("stop")
    try:
        during = _probe_starts(topo, "tt-spread", 10, "db-down")
    finally:
        topo.postgres_ctl("start")
    after = wait_until(
        lambda: (a := lc.start_playback(topo, 1, "tt-spread", topo.viewer_token("db-up"), "d"))[0]
        == 201 and a, 60, "playback start after the database is back")  # fmt: skip
    assert after[0] == 201
    _published(topo, "tt-db")
    print("activity attempts across the database outage:", lc.max_attempts(topo, "tt-db"))
    codes = [code for code, _ in during]
    print("playback start while the database was down:", codes)
    assert set(codes) <= {201, 503}, codes  # the 2 s title cache may still answer
    assert 503 in codes
    for code, problem in during:
        if code == 503:
            assert problem["status"] == 503 and problem["type"].startswith("https://"), problem
    assert 500 not in _api_statuses(topo)


def test_temporal_restart_mid_title(topo: Topology, workdir: Path) -> None:
    lc.ingest(topo, "tt-temporal", workdir)
    _wait_stage(topo, "tt-temporal", {"encode", "audio"})
    topo.temporal_restart(down_s=5)
    _published(topo, "tt-temporal")
    assert sorted(r.chunk for r in lc.chunk_runs(topo, "tt-temporal")) == [0, 1, 2]


def test_store_blip_during_publish_shows_players_nothing_half_published(
    topo: Topology, workdir: Path
) -> None:
    title = "tt-s3"
    lc.ingest(topo, title, workdir)
    _wait_stage(topo, title, {"keys", "package", "publish"}, 180)
    blip = threading.Thread(target=topo.s3_restart, args=(15.0,))
    blip.start()
    try:
        during = _probe_starts(topo, title, 20, "s3-blip")
    finally:
        blip.join(timeout=60)
    _published(topo, title)
    attempts = lc.max_attempts(topo, title)
    print("activity attempts across the store outage:", attempts)
    assert max(attempts.values()) > 1, attempts  # something met the outage and retried
    answers = {code for code, _ in during}
    print("playback start during the store outage:", [code for code, _ in during])
    assert answers <= {201, 404, 503}, answers
    for code, body in during:
        if code == 404:
            assert body["type"].endswith("/not_published"), body
    # Every session handed out at any point names a complete package: all its segments.
    sessions = [s for code, s in during if code == 201]
    # The API's title cache may answer "not published" for its bounded staleness after the
    # workflow published: wait for the first start that succeeds, bounded.
    after = wait_until(
        lambda: (a := lc.start_playback(topo, 1, title, topo.viewer_token("s3-after"), "d"))[0]
        == 201 and a, 30, "playback start after publish")  # fmt: skip
    sessions.append(after[1])
    for session in sessions[-3:]:
        mpd = http("GET", session["manifests"]["dash"])
        assert mpd[0] == 200
        for url in lc.segment_urls(mpd[2].decode()):
            assert http("GET", url)[0] == 200, url
    assert 500 not in _api_statuses(topo)


def test_studio_delivers_through_a_presigned_upload_and_the_webhook_on_api_1(
    topo: Topology, workdir: Path
) -> None:
    """The studio path across hosts: a presigned upload into the S3 host, then a signed
    ingest on api-1 naming that upload; a media host fetches it from S3 and QCs it. The
    title is held at its approval gate (require_approval), then taken down, so this adds
    no encode beside the other scenarios."""
    out = topo.cli("control", "studios", "add", "uploader", "--name", "Uploader")
    api_key = re.search(r"rf_sk_\S+", out)
    secret = re.search(r"whsec_\S+", out)
    assert api_key and secret, out
    auth = {"X-Api-Key": api_key.group(0)}
    code, _, granted = http(
        "POST", f"{topo.api_url(1)}/v1/studio/uploads", {"name": "master.mp4"}, auth
    )
    assert code == 201, granted
    grant = json.loads(granted)
    assert grant["source"].startswith("store:uploads/uploader/")
    form = grant["upload"]
    assert form["url"].startswith(f"http://{topo.addr('s3')}:")
    master = lc.make_master(workdir / "studio.mp4", seconds=12.0)
    # A presigned POST (the store caps its size): the form's fields, then the file last.
    upload = {"file": ("master.mp4", master.read_bytes(), "video/mp4")}
    posted = httpx.post(form["url"], data=form["fields"], files=upload, timeout=60)
    assert posted.status_code in (200, 201, 204), posted.text

    body = json.dumps(
        {
            "title_id": "tt-studio",
            "name": "From the studio",
            "source": grant["source"],
            "options": {"require_approval": True},
        }
    ).encode()
    t = int(time.time())
    mac = hmac.new(secret.group(0).encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    accepted = http("POST", f"{topo.api_url(1)}/v1/studio/ingest", raw=body,
                    headers={**auth, "Idempotency-Key": "up-1",
                             "Reelflow-Signature": f"t={t},v1={mac}"})  # fmt: skip
    assert accepted[0] == 202, accepted
    title = json.loads(accepted[2])["catalog_title_id"]
    assert title == "uploader--tt-studio"  # the studio's own namespace
    state = lc.wait_state(topo, title, {"awaiting_approval", "failed", "qc_failed"}, 240)
    assert state == "awaiting_approval"
    status = lc.status(topo, title)
    ingest = next(s for s in status.stages if s.name == "ingest")
    assert ingest.state == "done"
    topo.cli("control", "titles", "takedown", title, "--reason", "test done")
    assert lc.wait_state(topo, title, {"taken_down"}, 60) == "taken_down"


def _playable_title(topo: Topology, workdir: Path) -> str:
    """tt-spread when the first test published it, else a short title of this test's own."""
    code, _ = lc.start_playback(topo, 1, "tt-spread", topo.viewer_token("exp-probe"), "d-probe")
    if code == 201:
        return "tt-spread"
    lc.ingest(topo, "tt-exp", workdir, seconds=12.0)
    _published(topo, "tt-exp")
    return "tt-exp"


def test_an_operator_runs_an_experiment_across_replicas_and_reads_it(
    topo: Topology, workdir: Path
) -> None:
    """Created and started on api-1 through the admin API (PostgreSQL), the experiment
    reaches api-2's playback starts within its refresh; the viewer's exposure goes through
    the events writer on the control host into S3, and api-2's results and the CLI on the
    control host count that viewer in the variant api-2 answered. Stopped at the end."""
    title = _playable_title(topo, workdir)
    key = f"topo-{uuid.uuid4().hex[:6]}"
    auth = {"Authorization": f"Bearer {topo.viewer_token('ops-topo', admin=True)}"}
    configs: dict[str, dict] = {"control": {}, "cautious": {"abr": {"bandwidthUpgradeTarget": 0.5}}}
    variants = [{"key": k, "weight": 0.5, "config": c} for k, c in configs.items()]
    spec = {"key": key, "primary_metric": "minutes_watched", "guardrails": ["startup_p90"],
            "variants": variants}  # fmt: skip
    base = f"{topo.api_url(1)}/v1/admin/experiments"
    made = http("POST", base, spec, auth)
    assert made[0] == 201 and json.loads(made[2])["status"] == "draft", made
    try:
        started = http("POST", f"{base}/{key}/start", None, auth)
        assert started[0] == 200 and json.loads(started[2])["status"] == "running", started
        tries = iter(range(100))

        def assigned() -> dict | bool:
            # A new viewer per try: only the one answered with the experiment is exposed.
            token = topo.viewer_token(f"exp-viewer-{next(tries)}")
            code, answer = lc.start_playback(topo, 2, title, token, "d-exp")
            return code == 201 and key in answer.get("experiments", {}) and answer

        answer = wait_until(assigned, 30, "api-2 assigning the experiment", every_s=1.0)
        variant = answer["experiments"][key]["variant"]
        assert answer["experiments"][key]["config"] == configs[variant]

        def results() -> dict:
            code, _, body = http("GET", f"{topo.api_url(2)}/v1/admin/experiments/{key}/results",
                                 None, auth)  # fmt: skip
            assert code == 200, body
            return dict(json.loads(body))

        wait_until(lambda: sum(v["viewers"] for v in results()["variants"]) == 1, 90,
                   "the exposure written to S3 and counted")  # fmt: skip
        report = results()
        counted = {v["key"]: v["viewers"] for v in report["variants"]}
        print(f"experiment on {title}: api-2 answered {variant}, results count {counted}")
        assert counted == {k: int(k == variant) for k in configs}
        cli = json.loads(topo.cli("control", "experiments", "results", key, "--json"))
        assert cli["variants"] == report["variants"]
    finally:
        stopped = http("POST", f"{base}/{key}/stop", None, auth)
    assert stopped[0] == 200 and json.loads(stopped[2])["status"] == "stopped", stopped
    trail = json.loads(http("GET", f"{base}/{key}", None, auth)[2])["audit"]
    assert [(a["action"], a["actor"]) for a in trail] == [
        ("create", "ops-topo"), ("start", "ops-topo"), ("stop", "ops-topo")]  # fmt: skip


def _back_in_rotation(topo: Topology, replica: int) -> None:
    """A restarted replica ready (/readyz) and the edge sending it players again: the edge
    skips a replica for fail_timeout after it refused a connection, so draining the next
    one any sooner leaves the edge with no replica it will try (502)."""
    wait_until(lambda: http("GET", f"{topo.api_url(replica)}/readyz", timeout_s=5)[0] == 200,
               120, f"api-{replica} ready again")  # fmt: skip
    log = topo.edge_runtime / "api_access.log"
    seen = len(log.read_text().splitlines())
    addr = f"{topo.addr(f'api-{replica}')}:"

    def served_by_it() -> bool:
        lines = log.read_text().splitlines()[seen:]
        return any(line.rsplit("upstream=", 1)[-1].split(", ")[-1].startswith(addr)
                   and " api 2" in line for line in lines)  # fmt: skip

    wait_until(served_by_it, 60, f"the edge sending to api-{replica} again")


def test_a_replica_killed_under_player_load_fails_no_player_request(
    topo: Topology, workdir: Path
) -> None:
    """SIGKILL api-1 while players start sessions, fetch manifests and licenses through the
    edge: the edge sends what api-1 dropped or refused to api-2 (the start too: it carries
    an Idempotency-Key), and no player sees an error."""
    title = _playable_title(topo, workdir)
    with Players(topo, title, "fleet-kill") as players:
        players.wait_for(12, 180)
        assert topo.hosts.kill_all("api-1") > 0
        topo.services["api-1"].stop()  # reap
        at_kill = players.count()
        try:
            players.wait_for(at_kill + 30, 180)  # on api-2 alone
        finally:
            topo.services["api-1"].start()
        _back_in_rotation(topo, 1)  # the topology whole again for the tests after this one
    print(f"player answers around the kill of api-1 (at answer {at_kill}):", players.summary())
    log = (topo.edge_runtime / "api_access.log").read_text().splitlines()
    retried = [line for line in log if ", " in line.rsplit("upstream=", 1)[-1]]
    print(f"requests the edge sent to a second replica: {len(retried)}", retried[:3])
    assert players.failures() == []


def test_a_rolling_restart_under_player_load_answers_no_5xx(topo: Topology, workdir: Path) -> None:
    """SIGTERM each replica in turn (uvicorn drains: it stops accepting, finishes what it
    holds), start it again, wait until ready, then the next: the players see no 5xx."""
    title = _playable_title(topo, workdir)
    with Players(topo, title, "fleet-roll") as players:
        players.wait_for(12, 180)
        for replica in (1, 2):
            topo.services[f"api-{replica}"].stop(signal.SIGTERM, timeout_s=60)
            topo.services[f"api-{replica}"].start()
            _back_in_rotation(topo, replica)
    print("player answers across the rolling restart:", players.summary())
    assert players.failures() == []


def test_events_reach_parquet_through_the_writer_on_the_control_host(topo: Topology) -> None:
    """Last, so the writer has ridden out the outages above. A batch posted through the edge
    is written to the S3 host by the writer process and counted by `reelflow events stats`;
    the writer killed alone leaves the next batch in the backlog until it starts again."""

    def stats() -> dict[str, int]:
        return dict(json.loads(topo.cli("control", "events", "stats", "--json")))

    def post(n: int) -> list[str]:
        now = datetime.now(UTC).isoformat()
        batch = [{"id": str(uuid.uuid4()), "type": "search", "ts": now, "query": "topology"}
                 for _ in range(n)]  # fmt: skip
        auth = {"Authorization": f"Bearer {topo.viewer_token('viewer-events')}"}
        code, _, body = http("POST", f"{topo.edge_url}/v1/events", {"events": batch}, auth)
        assert code == 202, body
        return [e["id"] for e in batch]

    writer = topo.services["events"]
    assert writer.alive(), writer.tail()
    before = stats()["search"]
    sent = post(3)
    wait_until(lambda: (s := stats())["search"] == before + 3 and s["backlog"] == 0, 90,
               "the batch counted")  # fmt: skip
    assert lc.bucket_keys(topo, "events/type=search/")

    writer.stop(signal.SIGKILL)
    sent += post(2)
    down = stats()
    assert down["search"] == before + 3 and down["backlog"] >= 2, down
    writer.start()
    wait_until(lambda: (s := stats())["search"] == before + 5 and s["backlog"] == 0, 90,
               "the batch posted while the writer was down counted")  # fmt: skip
    exported = topo.cli("control", "accounts", "export", "viewer-events")
    assert {json.loads(line)["id"] for line in exported.splitlines()} == set(sent)
