"""The deployment files: `docker-compose config` validates deploy/compose.yaml and
`kubectl kustomize` renders deploy/kubernetes/ (Debian's `docker-compose` and `kubectl`,
which `.ci/run` installs; each half skips, saying so, without its tool). The tests read what
the tools print and hold it to the docs: every process, probes and resources on every
container, one beat, consumers no more than partitions, the image, only documented
variables, with the secrets in the Secret, and the stream server's own service, probes
and route for `.../stream/` paths."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parents[2]
DEPLOY = BASE_DIR / "deploy"
CONFIGURATION = (BASE_DIR / "docs" / "configuration.md").read_text()
PRODUCTION = (BASE_DIR / "docs" / "production.md").read_text()
# What must never sit in a ConfigMap (or a compose file in plain text but as a variable).
SECRETS = {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
APP_COMPONENTS = ("web", "streams", "consumer", "worker", "beat")
STREAM_COMMAND = ["python", "manage.py", "serve_streams", "--bind"]
# What the route must send to the stream server, and what it must not.
STREAM_PATHS = ["/api/v1/leaderboards/cup/stream/", "/api/v1/leaderboards/cup/players/p-1/stream/"]
NOT_STREAM_PATHS = ["/api/v1/leaderboards/cup/entries/", "/boards/cup/", "/", "/stream/"]
URL_WITH_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]+@")


def documented_variables() -> set[str]:
    """The variables of docs/configuration.md's tables, but those for local development
    only, which a deployment has no business setting."""
    section = CONFIGURATION
    names: set[str] = set()
    intro = ""  # the paragraph before a table says what it is for
    for block in re.split(r"\n\n+", section):
        rows = [line for line in block.splitlines() if line.startswith("| `")]
        if not rows:
            intro = block
        elif not intro.startswith("Local development only"):
            for row in rows:
                names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1]))
    return names


def readme_image() -> str:
    [image] = re.findall(r"docker build -t (\S+) \.", PRODUCTION)
    return image


def test_the_readme_tables_are_read():
    names = documented_variables()

    assert {"DATABASE_URL", "KAFKA_PRODUCER_IDEMPOTENCE", "WEB_CONCURRENCY"} <= names
    assert "CELERY_RESULT_BACKEND" in names  # a row naming two
    assert "DEVSTACK_DIR" not in names  # local development only


def _check_settings(env: dict[str, str], *args: str) -> None:
    """The settings read `env` (strictly, as every process does) and pass `manage.py check`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "THROTTLE_"))}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- deploy/compose.yaml ---------------------------------------------------------------


@pytest.fixture(scope="module")
def compose():
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    result = subprocess.run(
        ["docker-compose", "-f", str(DEPLOY / "compose.yaml"), "config"],
        env={**os.environ, "DJANGO_SECRET_KEY": "k" * 50, "POSTGRES_PASSWORD": "pw"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_compose_runs_every_process_on_the_real_engines(compose):
    assert set(compose) == {
        *("kafka", "postgres", "pgbouncer", "redis"),
        *("migrate", "web", "streams", "consumer", "worker", "beat"),
        *("prometheus", "grafana"),
    }
    kafka = compose["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert compose["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"


def test_compose_app_services_run_the_readme_image_with_its_commands(compose):
    commands = {name: compose[name].get("command") for name in (*APP_COMPONENTS, "migrate")}

    for name in (*APP_COMPONENTS, "migrate"):
        assert compose[name]["image"] == readme_image()
        assert compose[name]["build"]["context"] == str(BASE_DIR)
    assert commands["web"] is None  # the image's own: gunicorn
    assert 'CMD ["gunicorn", "config.wsgi:application"]' in (BASE_DIR / "Dockerfile").read_text()
    assert commands["streams"][:4] == STREAM_COMMAND
    assert commands["consumer"] == ["python", "manage.py", "consume_scores"]
    assert commands["worker"][:4] == ["celery", "-A", "config", "worker"]
    assert commands["beat"][:4] == ["celery", "-A", "config", "beat"]
    assert "python manage.py migrate --noinput" in commands["migrate"][-1]


def test_compose_pages_find_the_stream_server_on_its_published_port(compose):
    streams = compose["streams"]
    [published] = streams["ports"]  # 127.0.0.1:8001:8001/tcp
    _, host_port, container_port = published.split("/")[0].split(":")
    public = urlsplit(streams["environment"]["STREAM_PUBLIC_URL"])
    bind_port = streams["command"][-1].rsplit(":", 1)[1]

    assert (host_port, container_port) == (str(public.port), bind_port)
    assert public.hostname in streams["environment"]["DJANGO_ALLOWED_HOSTS"].split(",")
    # The web renders the pages: it must know where the streams are.
    assert compose["web"]["environment"]["STREAM_PUBLIC_URL"] == public.geturl()
    assert f"localhost:{bind_port}/healthz" in " ".join(streams["healthcheck"]["test"])
    assert streams["ulimits"]["nofile"]["soft"] >= 10_000


def test_compose_sets_only_documented_variables_and_migrates_past_pgbouncer(compose):
    documented = documented_variables()
    for name in (*APP_COMPONENTS, "migrate"):
        assert set(compose[name]["environment"]) <= documented, name
    for name in APP_COMPONENTS:
        assert "@pgbouncer:6432/" in compose[name]["environment"]["DATABASE_URL"]
        assert compose[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert "@postgres:5432/" in compose["migrate"]["environment"]["DATABASE_URL"]
    _check_settings(compose["web"]["environment"])


def test_compose_scales_consumers_within_the_partitions_and_runs_one_beat(compose):
    partitions = int(compose["consumer"]["environment"]["KAFKA_TOPIC_PARTITIONS"])

    assert 1 < compose["consumer"]["scale"] <= partitions
    assert compose["beat"].get("scale", 1) == 1
    for name in APP_COMPONENTS:
        assert compose[name]["healthcheck"]["test"], name


def test_compose_gives_the_prefork_worker_alone_a_metrics_directory(compose):
    worker = compose["worker"]

    assert worker["environment"]["PROMETHEUS_MULTIPROC_DIR"] in worker["tmpfs"]
    for name in ("web", "consumer", "beat"):
        assert "PROMETHEUS_MULTIPROC_DIR" not in compose[name]["environment"], name


def test_prometheus_scrapes_web_every_consumer_and_the_worker(compose):
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    env = compose["consumer"]["environment"]

    assert jobs["leaderboards-web"]["static_configs"][0]["targets"] == ["web:8000"]
    assert "web" in env["DJANGO_ALLOWED_HOSTS"].split(",")  # the scrape's Host header
    [consumers] = jobs["leaderboards-consumer"]["dns_sd_configs"]
    assert (consumers["names"], consumers["port"]) == (
        ["consumer"],
        int(env["CONSUMER_METRICS_PORT"]),
    )
    [workers] = jobs["leaderboards-worker"]["dns_sd_configs"]
    assert (workers["names"], workers["port"]) == (["worker"], int(env["WORKER_METRICS_PORT"]))
    mounts = [v.split(":")[1] for v in compose["prometheus"]["volumes"] if ":" in v]
    assert "/etc/prometheus/prometheus.yml" in mounts


def test_grafana_is_provisioned_with_the_dashboard(compose):
    volumes = {v.split(":")[0]: v.split(":")[1] for v in compose["grafana"]["volumes"]}
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "leaderboards.yaml").read_text()
    )
    [dashboards] = provider["providers"]

    dashboard_mount = volumes[str(DEPLOY / "grafana" / "leaderboards.json")]
    assert Path(dashboard_mount).parent == Path(dashboards["options"]["path"])
    assert volumes[str(DEPLOY / "grafana" / "provisioning")] == "/etc/grafana/provisioning"


# --- deploy/kubernetes/ ----------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests():
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed (apt-get install kubectl)")
    result = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "kubernetes")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return {
        (doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(result.stdout)
    }


def _one(manifests, kind: str, prefix: str) -> dict:
    [doc] = [d for (k, name), d in manifests.items() if k == kind and name.startswith(prefix)]
    return doc


def _deployments(manifests) -> dict[str, dict]:
    return {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc
        for (kind, _), doc in manifests.items()
        if kind == "Deployment"
    }


def _config(manifests) -> dict[str, str]:
    return _one(manifests, "ConfigMap", "leaderboards-config-")["data"]


def _secret(manifests, prefix: str = "leaderboards-secrets-") -> dict[str, str]:
    data = _one(manifests, "Secret", prefix)["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def test_kustomize_renders_every_process_and_the_migrate_job(manifests):
    deployments = _deployments(manifests)
    job = _one(manifests, "Job", "leaderboards-migrate")
    [job_container] = job["spec"]["template"]["spec"]["containers"]

    assert set(deployments) == set(APP_COMPONENTS)
    assert job_container["command"][-1].endswith("python manage.py migrate --noinput")
    hpa = _one(manifests, "HorizontalPodAutoscaler", "leaderboards-web")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployments["web"]["metadata"]["name"]
    assert "replicas" not in deployments["web"]["spec"]  # the autoscaler's to set
    service = _one(manifests, "Service", "leaderboards-web")
    assert service["spec"]["selector"] == deployments["web"]["spec"]["selector"]["matchLabels"]


def test_every_container_has_probes_and_resource_requests(manifests):
    pods = [d["spec"]["template"]["spec"] for d in _deployments(manifests).values()]
    job = _one(manifests, "Job", "leaderboards-migrate")["spec"]["template"]["spec"]

    for pod in pods:
        for container in pod["containers"]:
            assert container.get("livenessProbe"), container["name"]
            assert container.get("readinessProbe"), container["name"]
    for pod in [*pods, job]:
        for container in pod["containers"] + pod.get("initContainers", []):
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), container["name"]
            assert "memory" in container["resources"]["limits"], container["name"]


def test_web_probes_healthz_and_readyz_under_an_allowed_host(manifests):
    [web] = _deployments(manifests)["web"]["spec"]["template"]["spec"]["containers"]
    allowed = _config(manifests)["DJANGO_ALLOWED_HOSTS"].split(",")
    probes = {
        kind: web[kind]["httpGet"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")
    }

    assert probes["startupProbe"]["path"] == "/readyz"
    # Never /readyz after start: with PostgreSQL down the web serves cached boards.
    assert probes["readinessProbe"]["path"] == probes["livenessProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["port"] == web["ports"][0]["name"]
        [host] = [h["value"] for h in probe["httpHeaders"] if h["name"] == "Host"]
        assert host in allowed


def test_consumer_and_worker_are_probed_on_their_metrics_ports(manifests):
    deployments = _deployments(manifests)
    config = _config(manifests)

    for component, variable in (
        ("consumer", "CONSUMER_METRICS_PORT"),
        ("worker", "WORKER_METRICS_PORT"),
    ):
        [container] = deployments[component]["spec"]["template"]["spec"]["containers"]
        [port] = container["ports"]
        assert port["containerPort"] == int(config[variable])
        for kind in ("readinessProbe", "livenessProbe"):
            assert container[kind]["httpGet"] == {"path": "/metrics", "port": port["name"]}
        annotations = deployments[component]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == config[variable]


def test_the_prefork_worker_alone_gets_a_metrics_directory_and_env_is_documented(manifests):
    documented = documented_variables()
    deployments = _deployments(manifests)

    for component, deployment in deployments.items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            env = {item["name"]: item.get("value") for item in container.get("env", [])}
            assert set(env) <= documented, component
            assert ("PROMETHEUS_MULTIPROC_DIR" in env) == (component == "worker"), component
    [worker] = deployments["worker"]["spec"]["template"]["spec"]["containers"]
    [directory] = [e["value"] for e in worker["env"] if e["name"] == "PROMETHEUS_MULTIPROC_DIR"]
    assert directory in [mount["mountPath"] for mount in worker["volumeMounts"]]


def test_one_beat_never_two_and_consumers_within_the_partitions(manifests):
    deployments = _deployments(manifests)
    partitions = int(_config(manifests)["KAFKA_TOPIC_PARTITIONS"])

    assert deployments["beat"]["spec"]["replicas"] == 1
    assert deployments["beat"]["spec"]["strategy"] == {"type": "Recreate"}
    assert 1 < deployments["consumer"]["spec"]["replicas"] <= partitions


def test_containers_run_the_readme_image_with_its_commands(manifests):
    deployments = _deployments(manifests)
    job = _one(manifests, "Job", "leaderboards-migrate")
    pods = [d["spec"]["template"]["spec"] for d in deployments.values()] + [
        job["spec"]["template"]["spec"]
    ]
    commands = {
        name: deployment["spec"]["template"]["spec"]["containers"][0].get("command")
        for name, deployment in deployments.items()
    }

    for pod in pods:
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["image"].split(":")[0] == readme_image(), container["name"]
        for container in pod.get("initContainers", []):
            assert container["command"][:4] == [
                "python",
                "manage.py",
                "wait_for_services",
                "--migrated",
            ]
    assert commands["web"] is None  # the image's own: gunicorn
    assert commands["streams"][:4] == STREAM_COMMAND
    assert commands["consumer"] == ["python", "manage.py", "consume_scores"]
    assert commands["worker"][:4] == ["celery", "-A", "config", "worker"]
    assert commands["beat"][:4] == ["celery", "-A", "config", "beat"]


def test_the_stream_server_is_probed_without_kafka_under_an_allowed_host(manifests):
    deployment = _deployments(manifests)["streams"]
    [streams] = deployment["spec"]["template"]["spec"]["containers"]
    allowed = _config(manifests)["DJANGO_ALLOWED_HOSTS"].split(",")
    probes = {
        kind: streams[kind]["httpGet"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
    }

    assert streams["ports"][0]["containerPort"] == int(streams["command"][-1].rsplit(":")[1])
    # /readyz of the stream server: PostgreSQL and Redis (config/urls_streams.py).
    assert probes["startupProbe"]["path"] == "/readyz"
    assert probes["readinessProbe"]["path"] == probes["livenessProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["port"] == streams["ports"][0]["name"]
        [host] = [h["value"] for h in probe["httpHeaders"] if h["name"] == "Host"]
        assert host in allowed
    service = _one(manifests, "Service", "leaderboards-streams")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["replicas"] >= 2


def _routes(manifests) -> list[tuple[str, str, str, dict]]:
    """(host, path, service, the Ingress's annotations) of every Ingress rule."""
    routes = []
    for (kind, _), doc in manifests.items():
        if kind != "Ingress":
            continue
        annotations = doc["metadata"].get("annotations", {})
        for rule in doc["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                service = path["backend"]["service"]["name"]
                routes.append((rule["host"], path["path"], service, annotations))
    return routes


def _routed_to(manifests, path: str) -> str:
    """The service ingress-nginx sends `path` to: the longest matching rule's (regular
    expressions, as use-regex makes every path of the host)."""
    matches = [
        (len(rule), service) for _, rule, service, _ in _routes(manifests) if re.match(rule, path)
    ]
    return max(matches)[1]


def test_the_ingress_routes_stream_paths_to_the_stream_server_unbuffered(manifests):
    routes = _routes(manifests)
    hosts = {host for host, _, _, _ in routes}
    allowed = _config(manifests)["DJANGO_ALLOWED_HOSTS"].split(",")

    for path in STREAM_PATHS:
        assert _routed_to(manifests, path) == "leaderboards-streams", path
    for path in NOT_STREAM_PATHS:
        assert _routed_to(manifests, path) == "leaderboards-web", path
    assert hosts <= set(allowed)
    services = {name for kind, name in manifests if kind == "Service"}
    assert {service for _, _, service, _ in routes} <= services
    [annotations] = [a for _, _, service, a in routes if service == "leaderboards-streams"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > 60
    # One origin: the pages open their streams on it.
    assert not _config(manifests).get("STREAM_PUBLIC_URL")


def test_config_and_secret_hold_documented_variables_and_the_secrets_stay_secret(manifests):
    documented = documented_variables()
    config = _config(manifests)
    secret = _secret(manifests)
    migrate = _secret(manifests, "leaderboards-migrate-secrets-")

    assert set(config) <= documented
    assert set(secret) <= documented
    assert set(migrate) == {"DATABASE_URL"}
    assert set(secret) >= SECRETS
    assert not SECRETS & set(config)
    assert not [value for value in config.values() if URL_WITH_PASSWORD.search(value)]
    assert "@pgbouncer:6432/" in secret["DATABASE_URL"]
    assert "@postgres:5432/" in migrate["DATABASE_URL"]


def test_every_pod_reads_the_rendered_config_and_secret(manifests):
    names = {name for kind, name in manifests if kind in ("ConfigMap", "Secret")}
    job = _one(manifests, "Job", "leaderboards-migrate")
    pods = [d["spec"]["template"]["spec"] for d in _deployments(manifests).values()]

    for pod in [*pods, job["spec"]["template"]["spec"]]:
        for container in pod["containers"] + pod.get("initContainers", []):
            sources = [next(iter(s.values()))["name"] for s in container["envFrom"]]
            assert sources[:2] == [
                _one(manifests, "ConfigMap", "leaderboards-config-")["metadata"]["name"],
                _one(manifests, "Secret", "leaderboards-secrets-")["metadata"]["name"],
            ]
            assert set(sources) <= names


def test_the_kubernetes_env_passes_check_deploy(manifests):
    """Every value parses as the settings read it, and production settings pass."""
    _check_settings(
        {**_config(manifests), **_secret(manifests)}, "--deploy", "--fail-level", "WARNING"
    )
