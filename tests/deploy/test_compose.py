"""deploy/compose is checked against the code, since no Docker engine runs here.

Parsed with PyYAML (anchors and merge keys resolved as compose does). Each check reads a
fact from the compose file and the same fact from the code: the CLI parses every service's
command, every REELFLOW_* name is a Settings field whose value validates, every port agrees
between listener, clients, health checks and Prometheus, and the image's install step is
the shared deploy/install.sh. The multi-host topology itself is proven by the namespace
test (deploy/hosts.sh, tests/topology/), not here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from sqlalchemy.engine import make_url

from reelflow.cli.app import app
from reelflow.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
REELFLOW_IMAGE = "reelflow:"
LONG_RUNNING_EXEMPT = {"migrate"}  # one-shot: runs to completion, then the others start


def _interpolate(value: str) -> str:
    """Compose's ${VAR:-default} / ${VAR:?message}: the default, or a stand-in value."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "set-by-operator", value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svc: dict[str, dict[str, Any]] = compose["services"]
    return svc


def reelflow_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        n: s
        for n, s in services.items()
        if str(s.get("image", "")).startswith(REELFLOW_IMAGE) and n != "edge"
    }


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment must be a mapping (merge keys need one)"
    return {k: _interpolate(str(v)) for k, v in env.items()}


class NotACommand(Exception):
    pass


def parse_cli(args: list[str]) -> Any:
    """Parse like `reelflow ARGS` without running: unknown commands/options raise.

    Typer 0.29 carries its own click (typer._click), so groups are found by duck typing."""
    command: Any = typer.main.get_command(app)
    ctx = command.make_context("reelflow", [], resilient_parsing=True)
    rest = list(args)
    while hasattr(command, "list_commands"):
        name, rest = rest[0], rest[1:]
        sub = command.get_command(ctx, name)
        if sub is None:
            raise NotACommand(name)
        command = sub
        if hasattr(command, "list_commands"):
            ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
        else:
            ctx = command.make_context(name, list(rest), parent=ctx)
    return ctx


def test_every_reelflow_command_exists_in_the_cli(services: dict[str, dict[str, Any]]) -> None:
    ours = reelflow_services(services)
    assert {"api-1", "api-2", "control-worker", "media-worker", "rq-worker", "migrate"} <= set(ours)
    for name, svc in ours.items():
        ctx = parse_cli(svc["command"])
        assert ctx.command.callback is not None, name
    # The parser is strict: a renamed option would fail here.
    with pytest.raises(Exception, match="No such option"):
        parse_cli(["worker", "--queues", "media"])
    with pytest.raises(NotACommand):
        parse_cli(["serve"])


def test_worker_queues_are_known(services: dict[str, dict[str, Any]]) -> None:
    from reelflow.workers.main import KNOWN_QUEUES

    for name in ("control-worker", "media-worker", "rq-worker"):
        ctx = parse_cli(services[name]["command"])
        assert ctx.params["queue"] == [name.split("-")[0]]
        assert set(ctx.params["queue"]) <= set(KNOWN_QUEUES)


def _reelflow_names(text: str) -> set[str]:
    return set(re.findall(r"\bREELFLOW_[A-Z0-9_]+", text))


def test_every_reelflow_variable_is_a_setting_and_validates(
    services: dict[str, dict[str, Any]],
) -> None:
    fields = set(Settings.model_fields)
    seen: set[str] = set()
    for name, svc in services.items():
        for key, value in env_of(svc).items():
            if not key.startswith("REELFLOW_"):
                continue
            field = key.removeprefix("REELFLOW_").lower()
            assert field in fields, f"{name}: {key} is not a Settings field"
            # Types parse (bools, ints, paths, literals); secrets are not needed for this.
            Settings.model_validate({field: value})
            seen.add(key)
    for extra in ("secrets.env.example", "Dockerfile"):
        for key in _reelflow_names((COMPOSE_DIR / extra).read_text()):
            if key == "REELFLOW_HOME" or key.removeprefix("REELFLOW_").lower() in fields:
                continue
            pytest.fail(f"{extra}: {key} is not a Settings field")
    assert {"REELFLOW_WORKER_METRICS_BIND", "REELFLOW_MEDIA_CACHE_BYTES"} <= seen
    # Production everywhere reelflow runs: dev tokens and generated secrets are off.
    for name, svc in reelflow_services(services).items():
        assert env_of(svc)["REELFLOW_ENV"] == "production", name


def test_secrets_are_not_in_the_compose_file() -> None:
    text = (COMPOSE_DIR / "compose.yaml").read_text()
    for secret in ("SIGNING_SECRET", "MASTER_KEY", "S3_SECRET_KEY", "LICENSE_UPSTREAM_SECRET"):
        assert f"REELFLOW_{secret}" not in text  # they come from secrets.env
    example = (COMPOSE_DIR / "secrets.env.example").read_text()
    assert re.findall(r"^REELFLOW_SIGNING_SECRET=(.*)$", example, re.M) == [""]


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _healthcheck_port(svc: dict[str, Any]) -> int:
    test = " ".join(svc["healthcheck"]["test"])
    found = re.search(r"127\.0\.0\.1[:'\", ]+(\d+)", test)
    assert found, test
    return int(found.group(1))


def test_ports_agree(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    defaults = Settings()
    api = services["api-1"]
    api_ctx = parse_cli(api["command"])
    api_port = api_ctx.params["port"]
    assert api_port == int(env_of(api)["REELFLOW_API_PORT"]) == defaults.api_port
    assert _healthcheck_port(api) == api_port

    # Every reelflow client points at the listener of the service it names.
    env = env_of(services["control-worker"])
    s3_host, s3_port = env["REELFLOW_S3_ENDPOINT"].split(":")
    weed = services[s3_host]["command"]
    assert f"-s3.port={s3_port}" in weed and _healthcheck_port(services[s3_host]) == int(s3_port)
    assert "-ip.bind=0.0.0.0" in weed and "-master.telemetry=false" in weed
    temporal_host, temporal_port = env["REELFLOW_TEMPORAL_ADDRESS"].split(":")
    assert temporal_port == defaults.temporal_address.rsplit(":", 1)[1]
    assert f"{temporal_host}:{temporal_port}" in " ".join(
        services[temporal_host]["healthcheck"]["test"]
    )
    # Redis's URL carries the password, so it is in secrets.env, as a user of the ACL file.
    assert "REELFLOW_REDIS_URL" not in env
    example = (COMPOSE_DIR / "secrets.env.example").read_text()
    [redis_url] = re.findall(r"^REELFLOW_REDIS_URL=(.*)$", example, re.M)
    redis = urlsplit(redis_url)
    assert redis.port == _port(defaults.redis_url.rsplit("/", 1)[0])
    assert str(redis.port) in services[str(redis.hostname)]["command"]
    users = (COMPOSE_DIR / "redis-users.acl.example").read_text()
    assert f"user {redis.username} on " in users and "user default off" in users
    db = make_url(env["REELFLOW_DATABASE_URL"])
    assert db.host in services and db.port == 5432 and db.database == "reelflow"

    # Workers' metrics: the bind, the health check and Prometheus agree.
    prom = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    for name in ("control-worker", "media-worker"):
        bind = env_of(services[name])["REELFLOW_WORKER_METRICS_BIND"]
        assert _healthcheck_port(services[name]) == _port(bind)
        job = jobs[f"reelflow-{name}"]
        targets = [t for c in job.get("static_configs", []) for t in c["targets"]] + [
            f"{n}:{c['port']}" for c in job.get("dns_sd_configs", []) for n in c["names"]
        ]
        assert targets == [f"{name}:{_port(bind)}"]
    api_targets = jobs["reelflow-api"]["static_configs"][0]["targets"]
    assert sorted(api_targets) == [f"api-1:{api_port}", f"api-2:{api_port}"]
    assert jobs["reelflow-api"]["metrics_path"] == "/metrics"

    # The edge proxies to both replicas at their fixed addresses, listens where published.
    edge = shlex.split(services["edge"]["command"][0])
    upstreams = [edge[i + 1] for i, a in enumerate(edge) if a == "--upstream"]
    fixed = {
        services[n]["networks"]["reelflow"]["ipv4_address"] + f":{api_port}"
        for n in ("api-1", "api-2")
    }
    assert set(upstreams) == fixed and len(upstreams) == 2
    listen = edge[edge.index("--listen") + 1]
    assert services["edge"]["ports"] == [f"{listen}:{listen}"]
    subnet = compose["networks"]["reelflow"]["ipam"]["config"][0]["subnet"]
    assert all(u.startswith(subnet.rsplit(".", 1)[0] + ".") for u in upstreams)


def test_edge_command_matches_render_py(services: dict[str, dict[str, Any]]) -> None:
    render = (ROOT / "deploy" / "nginx" / "render.py").read_text()
    known = set(re.findall(r'add_argument\(\s*"(--[a-z-]+)"', render))
    edge = shlex.split(services["edge"]["command"][0])
    used = {a for a in edge[: edge.index("&&")] if a.startswith("--")}
    assert used and used <= known, used - known
    assert "deploy/nginx/render.py" in edge
    assert services["edge"]["secrets"] == ["media_link_secret"]


def test_health_checks_and_restart_policies(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        if name in LONG_RUNNING_EXEMPT:
            assert svc["restart"] == "no"
            continue
        assert svc.get("restart") in ("unless-stopped", "always"), name
        if name != "temporal-ui":
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no health check"
    media = services["media-worker"]
    assert media["deploy"]["replicas"] == "${MEDIA_REPLICAS:-2}"
    assert int(_interpolate(media["deploy"]["replicas"])) >= 1


def test_topology_has_every_role(services: dict[str, dict[str, Any]]) -> None:
    images = {n: str(s.get("image", "")) for n, s in services.items()}
    assert images["temporal"].startswith("temporalio/auto-setup:")
    assert images["temporal-ui"].startswith("temporalio/ui:")
    assert images["seaweedfs"].startswith("chrislusf/seaweedfs:")
    assert images["postgresql"].startswith("postgres:")
    assert images["redis"].startswith("redis:")
    assert images["prometheus"].startswith("prom/prometheus:")
    assert services["temporal"]["environment"]["DB"] == "postgres12"


def test_image_uses_the_shared_install_script() -> None:
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    runs = " ".join(re.findall(r"^RUN (.*)$", dockerfile.replace("\\\n", " "), re.M))
    assert "./deploy/install.sh runtime" in runs
    install = (ROOT / "deploy" / "install.sh").read_text()
    dev = (ROOT / "deploy" / "dev.sh").read_text()
    assert 'source "$ROOT/deploy/install.sh"' in dev
    for fn in ("ensure_apt", "ensure_venv", "ensure_node", "install_runtime", "install_test"):
        assert re.search(rf"^{fn}\(\) \{{", install, re.M), fn
        assert not re.search(rf"^{fn}\(\)", dev, re.M), f"{fn} defined twice"
    assert "requirements/${extra:-runtime}.lock" in install and "--require-hashes" in install


def test_redis_keeps_the_event_log_and_a_writer_drains_it(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    # The stream holds accepted events until the writer has them in Parquet (docs/events.md).
    redis = services["redis"]["command"]
    flags = dict(zip(redis[1::2], redis[2::2], strict=False))
    assert flags["--appendonly"] == "yes" and flags["--appendfsync"] == "everysec"
    assert flags["--maxmemory-policy"] == "noeviction"
    volume = next(v for v in services["redis"]["volumes"] if v.endswith(":" + flags["--dir"]))
    assert volume.split(":")[0] in compose["volumes"]
    assert parse_cli(services["events-writer"]["command"]).command.name == "writer"
    writer_env = env_of(services["events-writer"])
    assert writer_env["REELFLOW_STORE"] == "s3"
    prom = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    [job] = [j for j in prom["scrape_configs"] if j["job_name"] == "reelflow-events-writer"]
    assert job["dns_sd_configs"][0]["names"] == ["events-writer"]
    assert job["dns_sd_configs"][0]["port"] == _port(writer_env["REELFLOW_EVENTS_METRICS_BIND"])
