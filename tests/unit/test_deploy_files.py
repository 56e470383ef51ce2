"""The production shape (docker-compose, Dockerfile, Prometheus, Grafana, nginx, CI) parses and
hangs together. Docker cannot run here, so these files are checked by reading them."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from livevote import cli
from livevote.config import Settings
from livevote.infra import metrics

ROOT = Path(__file__).resolve().parents[2]


def load_yaml(relative: str) -> Any:
    return yaml.safe_load((ROOT / relative).read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml("docker-compose.yml")
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"])


def exposed_metric_names() -> set[str]:
    """Every sample name the collectors declared in livevote.infra.metrics can expose."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
        "gauge": ("",),
    }
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


def parse_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run argv through the real `livevote` argument parser without doing the work."""
    assert argv[0] == "livevote", argv
    seen: dict[str, Any] = {}

    def fake_serve(args: Any) -> int:
        seen["serve"] = args
        return 0

    def fake_with_database(settings: Any, fn: Any) -> int:
        seen["database"] = fn
        return 0

    monkeypatch.setattr(cli, "serve", fake_serve)
    monkeypatch.setattr(cli, "with_database", fake_with_database)
    assert cli.main(argv[1:]) == 0
    assert seen, f"{argv} did not reach a command"
    return seen


def test_every_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    assert {"mongo", "redis", "init", "app", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), name
        test = check["test"]
        assert test and test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, (name, test)


def test_depends_on_waits_for_health_or_completion(services: dict[str, Any]) -> None:
    one_shot = {"init"}
    for name, service in services.items():
        deps = service.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must use conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            expected = "service_completed_successfully" if dep in one_shot else "service_healthy"
            assert spec == {"condition": expected}, (name, dep, spec)
    app_deps = services["app"]["depends_on"]
    assert app_deps["init"]["condition"] == "service_completed_successfully"
    assert {"mongo", "redis", "init"} <= set(app_deps)
    assert services["init"]["depends_on"]["mongo"]["condition"] == "service_healthy"
    for name in ("prometheus", "grafana"):
        assert services[name]["depends_on"], name


def test_mongo_is_a_single_node_replica_set(services: dict[str, Any]) -> None:
    mongo = services["mongo"]
    assert mongo["image"] == "mongo:8"
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    probe = " ".join(mongo["healthcheck"]["test"])
    assert "mongosh" in probe
    assert "rs.initiate(" in probe and "_id: 'rs0'" in probe and "host: 'mongo:27017'" in probe
    assert "isWritablePrimary" in probe  # healthy only once this node is PRIMARY
    assert services["redis"]["image"] == "redis:7-alpine"


def test_app_and_init_environment(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, init = services["app"], services["init"]
    assert app["image"] == init["image"] and app["build"] == init["build"]
    assert app["build"]["dockerfile"] == "Dockerfile"
    for service in (app, init):
        env = service["environment"]
        assert env["MONGODB_URI"] == "mongodb://mongo:27017/?replicaSet=rs0"
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert env["LIVEVOTE_ENV"] == "production"
        assert env["LIVEVOTE_JWT_SECRET"] == "${LIVEVOTE_JWT_SECRET:?set it}"  # noqa: S105
    seen = parse_cli(app["command"], monkeypatch)
    args = seen["serve"]
    assert (args.host, args.workers) == ("0.0.0.0", 2)
    assert args.port == int(app["environment"]["LIVEVOTE_PORT"])
    seen = parse_cli(init["command"], monkeypatch)
    assert seen["database"] is cli._apply  # `livevote indexes apply`


def test_dockerfile_runs_a_real_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, flags=re.M)
    assert stages and all(image == "python:3.11-slim" for image in stages), stages
    assert "pip wheel --constraint requirements.lock" in text and "pip install" in text
    assert (ROOT / "requirements.lock").is_file()
    cmd_lines = re.findall(r"^CMD\s+(.+)$", text, flags=re.M)
    assert len(cmd_lines) == 1
    argv = json.loads(cmd_lines[0])  # exec form, so SIGTERM reaches livevote
    seen = parse_cli(argv, monkeypatch)
    assert seen["serve"].host == "0.0.0.0" and seen["serve"].workers == 2
    # The installed package finds indexes/ through LIVEVOTE_INDEXES_DIR.
    assert re.search(r"LIVEVOTE_INDEXES_DIR=/app/indexes", text)
    assert re.search(r"^COPY indexes \./indexes$", text, flags=re.M)
    assert re.search(r"^USER \w+", text, flags=re.M), "run unprivileged"
    assert "/health/ready" in text


def test_dockerignore_keeps_the_context_small() -> None:
    lines = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".data", "tests", "**/__pycache__"} <= lines
    # What the Dockerfile copies must not be ignored.
    assert not {"src", "indexes", "pyproject.toml", "requirements.lock"} & lines


def test_prometheus_scrapes_every_app_instance(services: dict[str, Any]) -> None:
    config = load_yaml("prometheus/prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs["livevote"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    port = services["app"]["environment"]["LIVEVOTE_PORT"]
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"app:{port}"]
    assert f"{port}" in services["app"]["expose"]
    # The scale profile's instances, found through DNS (absent without the profile).
    (dns,) = job["dns_sd_configs"]
    assert dns["type"] == "A" and str(dns["port"]) == port
    assert sorted(dns["names"]) == sorted(app_instances(services)[1:])
    prometheus = services["prometheus"]
    mounts = [v.split(":") for v in prometheus["volumes"]]
    assert ["./prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml", "ro"] in mounts
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


def test_metrics_route_exists() -> None:
    from livevote.infra import health

    paths = {path for handler in health.route_handlers for path in handler.paths}
    assert "/metrics" in paths and "/health/ready" in paths


def test_grafana_provisioning(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"]}
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    datasources = load_yaml("grafana/provisioning/datasources/prometheus.yml")["datasources"]
    (source,) = datasources
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = load_yaml("grafana/provisioning/dashboards/livevote.yml")["providers"]
    (provider,) = providers
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == provider["options"]["path"] + "/livevote.json"


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((ROOT / "grafana/dashboards/livevote.json").read_text())
    assert dashboard["uid"] == "livevote"
    uid = load_yaml("grafana/provisioning/datasources/prometheus.yml")["datasources"][0]["uid"]
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid
            exprs.append(target["expr"])
    return exprs


def test_dashboard_uses_only_declared_metrics() -> None:
    known = exposed_metric_names()
    used = {name for expr in dashboard_exprs() for name in re.findall(r"\blivevote_\w+", expr)}
    assert used, "the dashboard queries no livevote metric"
    assert not used - known, f"not declared in livevote.infra.metrics: {sorted(used - known)}"


def test_dashboard_shows_what_operators_need() -> None:
    exprs = dashboard_exprs()
    joined = "\n".join(exprs)
    assert re.search(
        r"histogram_quantile\(0\.99, sum by \([^)]*\broute\b[^)]*\) "
        r"\(rate\(livevote_http_request_duration_seconds_bucket",
        joined,
    )
    assert re.search(r"sum by \([^)]*route[^)]*\) \(rate\(livevote_http_requests_total", joined)
    for needed in (
        "livevote_business_operations_total",
        "livevote_sse_streams_open",
        "livevote_change_stream_lag_seconds_bucket",
        "livevote_rate_limit_rejections_total",
        'livevote_cache_requests_total{result="hit"}',
        'livevote_cache_requests_total{result="miss"}',
    ):
        assert needed in joined, needed


def test_dashboard_operation_names_exist_in_the_code() -> None:
    """The votes/s panel filters business operations by name: those names must be emitted."""
    sources = "\n".join(p.read_text() for p in (ROOT / "src/livevote").rglob("*.py"))
    emitted = set(re.findall(r"""business\(\s*["']([a-z_]+)["']""", sources))
    filters = re.findall(r'operation=~"([^"]+)"', "\n".join(dashboard_exprs()))
    assert filters
    for alternatives in filters:
        for name in alternatives.split("|"):
            assert name in emitted, f"dashboard filters on {name!r}; emitted: {sorted(emitted)}"


def test_exposed_metric_names_reads_the_module() -> None:
    # The helper behind the dashboard check must see real names and reject made-up ones.
    known = exposed_metric_names()
    assert "livevote_http_request_duration_seconds_bucket" in known
    assert "livevote_http_requests_total" in known
    assert "livevote_sse_streams_open" in known
    assert "livevote_votes_per_second" not in known


def nginx_text(name: str) -> str:
    """An nginx file without its comments."""
    text = (ROOT / "nginx" / name).read_text()
    return "\n".join(line.split("#", 1)[0].rstrip() for line in text.splitlines())


def nginx_block(text: str, opening: str) -> str:
    """The body of the (brace-free) block opened by `opening`, e.g. "upstream livevote"."""
    start = text.index(opening + " {") + len(opening) + 2
    return text[start : text.index("}", start)]


def upstream_directives(conf: str) -> list[str]:
    body = nginx_block(nginx_text(conf), "upstream livevote")
    return [d.strip() for d in body.split(";") if d.strip()]


def app_instances(services: dict[str, Any]) -> list[str]:
    """The services that run the app (`livevote serve`): `app` first."""
    names = [
        n for n, s in services.items() if s.get("command", [None])[:2] == ["livevote", "serve"]
    ]
    return sorted(names, key=lambda n: (n != "app", n))


def test_scale_profile_adds_two_identical_app_instances(services: dict[str, Any]) -> None:
    instances = app_instances(services)
    assert instances == ["app", "app-2", "app-3"]
    app = services["app"]
    assert "profiles" not in app  # `docker compose up` still starts instance 1
    for name in instances[1:]:
        service = services[name]
        assert service["profiles"] == ["scale"], name
        assert "ports" not in service, f"{name}: a host port would clash between instances"
        same = {k: v for k, v in service.items() if k != "profiles"}
        assert same == {k: v for k, v in app.items() if k != "ports"}, name
    # Only the scale-out services carry a profile: the default `up` is unchanged.
    profiled = {n for n, s in services.items() if "profiles" in s}
    assert profiled == {"app-2", "app-3", "nginx-scale"}
    # One init job applies the indexes for all instances; all share one database and Redis.
    assert "init" in services and "profiles" not in services["init"]
    for name in instances:
        env = services[name]["environment"]
        assert env["MONGODB_URI"] == services["init"]["environment"]["MONGODB_URI"]
        assert env["REDIS_URL"] == services["init"]["environment"]["REDIS_URL"]
        assert env["LIVEVOTE_MONGO_AUTO_APPLY_INDEXES"] == "false"


def test_both_proxies_are_trusted_by_every_instance(services: dict[str, Any]) -> None:
    proxies = {
        name: services[name]["networks"]["backend"]["ipv4_address"]
        for name in ("nginx", "nginx-scale")
    }
    assert len(set(proxies.values())) == 2
    for name in app_instances(services):
        trusted = services[name]["environment"]["LIVEVOTE_LIMITS_TRUSTED_PROXIES"].split(",")
        assert sorted(trusted) == sorted(f"{ip}/32" for ip in proxies.values()), name


def test_nginx_scale_balances_the_three_instances(services: dict[str, Any]) -> None:
    proxy = services["nginx-scale"]
    assert proxy["profiles"] == ["scale"]
    assert proxy["image"] == services["nginx"]["image"]
    assert proxy["depends_on"] == {
        name: {"condition": "service_healthy"} for name in app_instances(services)
    }
    mounts = {v.split(":")[1]: v.split(":")[0] for v in proxy["volumes"]}
    assert mounts == {
        "/etc/nginx/nginx.conf": "./nginx/scale.conf",
        "/etc/nginx/livevote.conf": "./nginx/livevote.conf",
    }
    single = {v.split(":")[1]: v.split(":")[0] for v in services["nginx"]["volumes"]}
    assert single == {
        "/etc/nginx/nginx.conf": "./nginx/nginx.conf",
        "/etc/nginx/livevote.conf": "./nginx/livevote.conf",
    }
    host_ports = [p.split(":")[-2] for s in services.values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports)), host_ports
    port = services["app"]["environment"]["LIVEVOTE_PORT"]
    directives = upstream_directives("scale.conf")
    # nginx wants the balancing method before keepalive.
    assert directives[0] == "least_conn" and directives[-1].startswith("keepalive ")
    servers = [d.split()[1] for d in directives if d.startswith("server ")]
    assert servers == [f"{name}:{port}" for name in app_instances(services)]
    assert upstream_directives("nginx.conf") == ["server app:" + port, "keepalive 64"]


def test_both_proxies_share_one_set_of_rules() -> None:
    single, scale = nginx_text("nginx.conf"), nginx_text("scale.conf")
    assert "include livevote.conf;" in single and "include livevote.conf;" in scale

    def outside_upstream(text: str) -> str:
        body = nginx_block(text, "upstream livevote")
        return "\n".join(line for line in text.replace(body, "").splitlines() if line.strip())

    assert outside_upstream(single) == outside_upstream(scale)
    assert "location" not in single and "location" not in scale  # all rules are shared


def test_nginx_streams_sse_unbuffered() -> None:
    conf = nginx_text("livevote.conf")
    server = conf[conf.index("server {") :]
    head = server[: server.index("location")]
    assert "proxy_http_version 1.1;" in head  # keep-alive to the upstream
    assert "proxy_set_header Connection $connection_upgrade;" in head
    assert "add_header Strict-Transport-Security $hsts always;" in head  # HSTS where TLS ends
    assert '"max-age=31536000; includeSubDomains"' in nginx_block(conf, "map $scheme $hsts")
    assert re.search(r'""\s+"";', nginx_block(conf, "map $http_upgrade $connection_upgrade"))
    block = nginx_block(server, "location ~ ^/api/.+/stream$")
    assert "proxy_buffering off;" in block and "proxy_cache off;" in block
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        timeout = re.search(directive + r" (\d+)s;", block)
        assert timeout and int(timeout.group(1)) >= Settings().sse.max_stream_seconds
    pattern = re.search(r"location ~ (\S+) \{", server).group(1)  # type: ignore[union-attr]
    assert re.search(pattern, "/api/events/65f0c1/stream")
    assert re.search(pattern, "/api/elections/65f0c1/stream")
    assert not re.search(pattern, "/api/events/65f0c1/votes")


@pytest.mark.parametrize("conf", ["nginx.conf", "scale.conf"])
def test_nginx_accepts_the_config(conf: str, tmp_path: Path) -> None:
    """`nginx -t` on each main file with livevote.conf beside it, as mounted in the container.
    The compose service names do not resolve here, so upstream hosts become 127.0.0.1."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    for name in ("nginx.conf", "scale.conf", "livevote.conf"):
        text = (ROOT / "nginx" / name).read_text()
        text = re.sub(r"(?m)^(\s*server )[a-z][\w-]*(:\d+)", r"\g<1>127.0.0.1\2", text)
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [
            *(nginx, "-t", "-e", "stderr", "-p", str(tmp_path)),
            *("-c", str(tmp_path / conf), "-g", f"pid {tmp_path / 'nginx.pid'};"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_ci_workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    workflow = load_yaml(".github/workflows/ci.yml")
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as True
    assert "push" in triggers and "pull_request" in triggers
    jobs = workflow["jobs"]
    test = jobs["test"]
    assert test["services"]["redis"]["image"] == "redis:7-alpine"
    env = test["env"]
    assert env["MONGODB_URI"] == "mongodb://localhost:27017/?replicaSet=rs0"
    assert env["REDIS_URL"] == "redis://localhost:6379/0"
    runs = [step.get("run", "") for step in test["steps"]]
    mongo = next(r for r in runs if "docker run" in r)
    docker_run = shlex.split(mongo.splitlines()[0])
    assert "mongo:8" in docker_run and "27017:27017" in docker_run
    assert docker_run[docker_run.index("--replSet") + 1] == "rs0"
    assert "rs.initiate(" in mongo and "host: 'localhost:27017'" in mongo
    assert any("apt-get install" in r and "chromium" in r for r in runs)
    tests = next(i for i, r in enumerate(runs) if r.startswith(".ci/run"))
    assert runs.index(mongo) < tests
    ci_run = (ROOT / ".ci/run").read_text()
    assert "scripts/test" in ci_run
    assert "python -m pytest" in (ROOT / "scripts/test").read_text()
    lint = " ".join(step.get("run", "") for step in jobs["lint"]["steps"])
    assert "scripts/check" in lint and "scripts/check" in (ROOT / "scripts/test").read_text()
    check = (ROOT / "scripts/check").read_text()
    assert "ruff check" in check and "ruff format --check" in check and "mypy --strict" in check
    assert "src tests loadtest" in check
    for script in ("scripts/bootstrap", "scripts/check", ".ci/run"):
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"
    for job in jobs.values():
        for step in job["steps"]:
            assert "uses" in step or "run" in step
