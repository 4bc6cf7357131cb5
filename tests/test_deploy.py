"""deploy/: the Kubernetes manifests against the API schemas, and what must agree across files.

kubernetes-validate ships the Kubernetes JSON schemas, so the core kinds are schema-validated
offline; KEDA's CRDs are not in it, so its objects are checked field by field. Everything that must
agree between files (names, labels, ports, probes, queue keys, shutdown timeouts, the settings'
variable names, the Redis connection, the image, the lock and its hashes, what the Docker build
context holds) is checked here rather than trusted. No Docker engine is needed: the Dockerfile and
.dockerignore are read, not built.
"""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from dispatcher.queue import queue_for
from dispatcher.settings import Settings
from dispatcher.store.connection import parse_sentinels
from dispatcher.store.keys import ACTOR_POLL, ACTOR_SEND_BATCH, Keys

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30.0"
#: Environment variables that are not dispatcher settings but are meant.
OTHER_VARIABLES = {
    "PROMETHEUS_MULTIPROC_DIR",
    "dramatiq_prom_db",
    "REDIS_ADDRESS",
    "REDIS_DB",
    "REDIS_PASSWORD",
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifests() -> list[dict[str, Any]]:
    kustomization = documents(K8S / "kustomization.yaml")[0]
    return [doc for name in kustomization["resources"] for doc in documents(K8S / name)]


def one(kind: str, name: str) -> dict[str, Any]:
    found = [m for m in manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


SETTINGS_VARIABLES = {f"DISPATCHER_{name.upper()}" for name in Settings.model_fields}


def test_the_kustomization_lists_every_manifest_file() -> None:
    listed = set(documents(K8S / "kustomization.yaml")[0]["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize(
    "manifest",
    [m for m in manifests() if not m["apiVersion"].startswith("keda.sh/")],
    ids=lambda m: f"{m['kind']}/{m['metadata']['name']}",
)
def test_each_kubernetes_object_is_valid_against_the_api_schema(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_services_and_disruption_budgets_select_the_pods_of_their_deployment() -> None:
    web_labels = one("Deployment", "dispatcher-web")["spec"]["template"]["metadata"]["labels"]
    worker = one("Deployment", "dispatcher-worker")
    worker_labels = worker["spec"]["template"]["metadata"]["labels"]
    assert one("Service", "dispatcher-web")["spec"]["selector"].items() <= web_labels.items()
    pdb_web = one("PodDisruptionBudget", "dispatcher-web")["spec"]["selector"]["matchLabels"]
    pdb_worker = one("PodDisruptionBudget", "dispatcher-worker")["spec"]["selector"]["matchLabels"]
    assert pdb_web.items() <= web_labels.items()
    assert pdb_worker.items() <= worker_labels.items()
    assert web_labels != worker_labels


def test_the_web_probes_hit_the_health_routes_on_the_served_port() -> None:
    from dispatcher.api.openapi import document

    web = container(one("Deployment", "dispatcher-web"))
    port = int(option(web["args"], "--port"))
    ports = {p["name"]: p["containerPort"] for p in web["ports"]}
    assert ports["http"] == port
    paths = document()["paths"]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz" in paths
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz" in paths
    assert one("Service", "dispatcher-web")["spec"]["ports"][0]["targetPort"] == "http"


def test_workers_get_longer_to_stop_than_dramatiq_gives_running_actors() -> None:
    worker = one("Deployment", "dispatcher-worker")
    shutdown_s = int(option(container(worker)["args"], "--worker-shutdown-timeout")) / 1000
    grace_s = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace_s > shutdown_s
    # ... and dramatiq's timeout covers a pacing wait plus a create bounded by the client timeouts
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    create_s = s.connect_timeout_s + s.write_timeout_s + s.read_timeout_s + s.pool_timeout_s
    assert shutdown_s >= s.max_pacing_wait_s + create_s


def test_the_web_server_stops_within_its_grace_period() -> None:
    from dispatcher.api.server import GRACEFUL_SHUTDOWN_S

    web = one("Deployment", "dispatcher-web")["spec"]["template"]["spec"]
    pre_stop_s = int(web["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert web["terminationGracePeriodSeconds"] > pre_stop_s + GRACEFUL_SHUTDOWN_S


def test_keda_scales_the_worker_deployment_on_the_poll_queue_backlog_alone() -> None:
    # The pace is global: a batch backlog drains at the same rate whatever the worker count, and
    # delayed messages wait in worker memory. Polls and controls waiting in Redis mean every
    # worker thread is busy: that is the one signal more workers answer (deploy/README.md).
    config = one("ConfigMap", "dispatcher-config")["data"]
    namespace = Keys(config["DISPATCHER_KEY_PREFIX"]).dramatiq_namespace
    queue = config["DISPATCHER_QUEUE_NAME"]
    scaled = one("ScaledObject", "dispatcher-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "dispatcher-worker"
    assert scaled["minReplicaCount"] >= 1  # the reconciler must always run somewhere
    assert scaled["maxReplicaCount"] > scaled["minReplicaCount"]
    lists = [t["metadata"]["listName"] for t in scaled["triggers"]]
    assert lists == [f"{namespace}:{queue_for(queue, ACTOR_POLL)}"]
    assert f"{namespace}:{queue_for(queue, ACTOR_SEND_BATCH)}" not in lists
    assert not [name for name in lists if name.endswith(".DQ")]
    for trigger in scaled["triggers"]:
        assert trigger["type"] == "redis"
        assert int(trigger["metadata"]["listLength"]) > 0


def test_keda_reads_the_redis_connection_from_the_worker_environment() -> None:
    scaled = one("ScaledObject", "dispatcher-worker")["spec"]
    worker = container(one("Deployment", "dispatcher-worker"))
    assert scaled["scaleTargetRef"]["envSourceContainerName"] == worker["name"]
    config = one("ConfigMap", "dispatcher-config")["data"]
    secret = one("Secret", "dispatcher-secrets")["stringData"]
    for trigger in scaled["triggers"]:
        metadata = trigger["metadata"]
        # Nothing written twice: no literal address, host, port or password in the trigger.
        assert not {"address", "host", "port", "password"} & set(metadata)
        assert metadata["addressFromEnv"] in config
        assert metadata["passwordFromEnv"] in secret
        assert metadata["databaseIndex"] == config["REDIS_DB"]
    assert [m for m in manifests() if m["kind"] == "TriggerAuthentication"] == []


def test_the_redis_address_is_fully_qualified() -> None:
    # KEDA's operator runs in its own namespace: a short service name would resolve there.
    host, _, port = one("ConfigMap", "dispatcher-config")["data"]["REDIS_ADDRESS"].rpartition(":")
    assert int(port) > 0
    assert "." in host, host
    namespace = documents(K8S / "kustomization.yaml")[0]["namespace"]
    if ".svc" in host:
        assert host.endswith(f".{namespace}.svc.cluster.local") or host.count(".") >= 4, host


def expand(value: str, variables: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of an env value or an argument."""
    return re.sub(r"\$\((\w+)\)", lambda m: variables[m.group(1)], value)


def test_every_deployment_derives_the_redis_url_from_the_same_variables() -> None:
    config = one("ConfigMap", "dispatcher-config")["data"]
    secret = one("Secret", "dispatcher-secrets")["stringData"]
    assert "DISPATCHER_REDIS_URL" not in config
    assert "DISPATCHER_REDIS_URL" not in secret
    urls = set()
    for deployment in ("dispatcher-web", "dispatcher-worker"):
        env = {e["name"]: e["value"] for e in container(one("Deployment", deployment))["env"]}
        urls.add(env["DISPATCHER_REDIS_URL"])
    assert len(urls) == 1
    (template,) = urls
    assert set(re.findall(r"\$\((\w+)\)", template)) == {
        "REDIS_ADDRESS",
        "REDIS_DB",
        "REDIS_PASSWORD",
    }
    url = expand(template, {**config, **secret})
    settings = Settings(redis_url=url, _env_file=None)  # type: ignore[call-arg]
    assert settings.redis_url == url
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    assert f"{parts.hostname}:{parts.port}" == config["REDIS_ADDRESS"]
    assert parts.password == secret["REDIS_PASSWORD"]
    assert parts.path == f"/{config['REDIS_DB']}"


def test_the_autoscaler_alone_sets_the_worker_replica_count() -> None:
    assert "replicas" not in one("Deployment", "dispatcher-worker")["spec"]
    assert one("Deployment", "dispatcher-web")["spec"]["replicas"] >= 2


def test_worker_threads_come_from_the_setting() -> None:
    worker = container(one("Deployment", "dispatcher-worker"))
    assert option(worker["args"], "--threads") == "$(DISPATCHER_WORKER_THREADS)"
    threads = one("ConfigMap", "dispatcher-config")["data"]["DISPATCHER_WORKER_THREADS"]
    assert Settings(worker_threads=threads, _env_file=None).worker_threads >= 1  # type: ignore[call-arg]
    procfile = (ROOT / "Procfile").read_text()
    assert "--threads ${DISPATCHER_WORKER_THREADS" in procfile


def test_scale_down_is_paced_by_the_hpa_behaviour_not_by_a_cooldown() -> None:
    # KEDA's cooldownPeriod only applies to scaling to zero, which minReplicaCount >= 1 forbids.
    scaled = one("ScaledObject", "dispatcher-worker")["spec"]
    assert "cooldownPeriod" not in scaled
    behavior = scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert behavior["scaleDown"]["policies"]


def test_the_namespace_is_an_object_applied_first() -> None:
    kustomization = documents(K8S / "kustomization.yaml")[0]
    (namespace,) = [m for m in manifests() if m["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == kustomization["namespace"]
    assert kustomization["resources"][0] == "namespace.yaml"


def test_the_image_is_fully_qualified_and_tagged_with_the_release() -> None:
    kustomization = documents(K8S / "kustomization.yaml")[0]
    (image,) = kustomization["images"]
    for deployment in ("dispatcher-web", "dispatcher-worker"):
        assert container(one("Deployment", deployment))["image"] == image["name"]
    registry = image["newName"].split("/")[0]
    assert "." in registry or ":" in registry, image  # else nodes look on Docker Hub
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert image["newTag"] == version


def test_every_deployment_reads_the_config_and_secret_that_exist() -> None:
    names = {("ConfigMap", "dispatcher-config"), ("Secret", "dispatcher-secrets")}
    for deployment in ("dispatcher-web", "dispatcher-worker"):
        spec = container(one("Deployment", deployment))
        refs = {
            ("ConfigMap", e["configMapRef"]["name"]) if "configMapRef" in e else
            ("Secret", e["secretRef"]["name"])
            for e in spec["envFrom"]
        }  # fmt: skip
        assert refs == names
        pod = one("Deployment", deployment)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["allowPrivilegeEscalation"] is False


def variables_in_deploy() -> set[str]:
    found: set[str] = set()
    found |= set(one("ConfigMap", "dispatcher-config")["data"])
    found |= set(one("Secret", "dispatcher-secrets")["stringData"])
    for deployment in ("dispatcher-web", "dispatcher-worker"):
        found |= {e["name"] for e in container(one("Deployment", deployment)).get("env", [])}
    for name in ("docker-compose.yml", "docker-compose.sentinel.yml"):
        compose = documents(DEPLOY / name)[0]
        for service in compose["services"].values():
            found |= set(service.get("environment") or {})
    return found


def test_every_variable_the_deployment_sets_is_a_real_setting() -> None:
    # Settings ignore unknown DISPATCHER_* variables: a typo here would be silently dropped.
    unknown = {v for v in variables_in_deploy() if v not in SETTINGS_VARIABLES | OTHER_VARIABLES}
    assert unknown == set()


def test_the_secrets_hold_the_secrets_and_the_config_does_not() -> None:
    secret = set(one("Secret", "dispatcher-secrets")["stringData"])
    config = set(one("ConfigMap", "dispatcher-config")["data"])
    sensitive = {
        "DISPATCHER_EFFEBOT_API_KEY",
        "DISPATCHER_API_TOKENS",
        "DISPATCHER_WEBHOOK_SECRET",
        "REDIS_PASSWORD",
    }
    assert sensitive <= secret
    assert not sensitive & config


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.sentinel.yml"])
def test_the_compose_file_is_valid_against_the_compose_specification(name: str) -> None:
    schema_text = (
        resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text(encoding="utf-8")
    )
    schema = json.loads(schema_text)
    validator = jsonschema.Draft202012Validator(schema)
    compose = documents(DEPLOY / name)[0]
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []
    broken = {**compose, "services": {"web": {"image": "x", "restart": 3}}}
    assert list(validator.iter_errors(broken))  # the schema does catch mistakes


def test_compose_runs_redis_with_aof_and_web_worker_and_the_sandbox_as_the_provider() -> None:
    compose = documents(DEPLOY / "docker-compose.yml")[0]
    services = compose["services"]
    assert set(services) == {"redis", "web", "worker", "sandbox"}
    redis_command = services["redis"]["command"]
    assert option(redis_command, "--appendonly") == "yes"
    assert services["redis"]["volumes"][0].endswith(":/data")
    sandbox_port = option(services["sandbox"]["command"], "--port")
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["DISPATCHER_EFFEBOT_BASE_URL"] == f"http://sandbox:{sandbox_port}"
        assert env["DISPATCHER_REDIS_URL"].startswith("redis://redis:")
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    web_port = option(services["web"]["command"], "--port")
    assert services["web"]["environment"]["DISPATCHER_PUBLIC_BASE_URL"].endswith(f":{web_port}")
    shutdown_s = int(option(services["worker"]["command"], "--worker-shutdown-timeout")) / 1000
    assert int(services["worker"]["stop_grace_period"].rstrip("s")) > shutdown_s
    assert services["sandbox"]["build"]["dockerfile"] == "deploy/Dockerfile"
    images = {service["image"] for name, service in services.items() if name != "redis"}
    assert images == {services["sandbox"]["image"]}  # one image, built once


def dockerfile_stages() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    return ["FROM " + part for part in re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]]


def instructions(stage: str, name: str) -> list[str]:
    """Every `name` instruction of a stage, continuation lines joined."""
    joined = stage.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.startswith(f"{name} ")]


def test_the_dockerfile_is_slim_non_root_and_installs_only_the_lock() -> None:
    build, final = dockerfile_stages()
    assert all("slim" in stage.split()[1] for stage in (build, final))
    assert re.search(r"^USER (?!0\b|root\b)\S+", final, flags=re.MULTILINE)
    assert "build-essential" not in final
    # What is downloaded is checked against the lock's hashes ...
    (download,) = [r for r in instructions(build, "RUN") if "requirements.lock" in r]
    assert "--require-hashes" in download
    # ... and the runtime installs those wheels only, from no index, and checks they fit.
    installs = [r for r in instructions(final, "RUN") if "pip install" in r]
    assert installs
    assert all("--no-index" in r and "/wheels/" in r for r in installs)
    assert "pip check" in installs[0]
    assert "setuptools==" not in (DEPLOY / "Dockerfile").read_text()


def locked() -> dict[str, tuple[str, list[str]]]:
    """Locked name -> (version, sha256 hashes)."""
    text = (DEPLOY / "requirements.lock").read_text(encoding="utf-8").replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement, *options = line.split()
        name, version = requirement.split("==")
        hashes = [o.removeprefix("--hash=sha256:") for o in options if o.startswith("--hash=")]
        found[canonicalize_name(name)] = (version, hashes)
    return found


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = locked()
    assert pins
    for name, (_, hashes) in pins.items():
        assert hashes, name
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name
    environment = {"sys_platform": "linux", "python_version": "3.11"}
    for requirement in map(Requirement, project["dependencies"]):
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        version, _ = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)


def test_the_lock_holds_no_old_setuptools() -> None:
    # 65.x (what `python -m venv` bundles) has known vulnerabilities; 78.1.1 fixed the last one.
    version, _ = locked().get("setuptools", ("999", []))
    assert Version(version) >= Version("78.1.1")


def dockerignored(path: str) -> bool:
    """Whether the Docker build context leaves `path` out (the daemon's own matching rules)."""
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    excluded = False
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        regex = "".join(
            ".*" if token == "**" else "[^/]*" if token == "*" else "[^/]" if token == "?" else
            re.escape(token)
            for token in re.findall(r"\*\*|\*|\?|[^*?]+", pattern)
        )  # fmt: skip
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def test_the_docker_build_context_holds_what_the_dockerfile_copies_and_no_secrets() -> None:
    copied = [
        source
        for stage in dockerfile_stages()
        for copy in instructions(stage, "COPY")
        if "--from=" not in copy
        for source in copy.split()[1:-1]
    ]
    assert copied
    for source in copied:
        assert not dockerignored(source), source
    for kept in ("dispatcher/cli.py", "dispatcher/store/lua/claim_batch.lua", "workers/app.py"):
        assert not dockerignored(kept), kept
    for left_out in (
        ".git/HEAD",
        ".venv/bin/python",
        ".env",
        "dispatcher/.env",
        "out/demo.csv",
        "tests/test_cli.py",
        "dispatcher/__pycache__/cli.cpython-311.pyc",
    ):
        assert dockerignored(left_out), left_out


def test_the_procfile_lists_web_and_worker_like_the_manifests() -> None:
    processes = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert {"web", "worker"} <= set(processes)
    assert processes["web"].split()[:2] == ["dispatcher", "serve"]
    worker_args = processes["worker"].split()
    assert worker_args[:2] == ["dramatiq", "workers.app"]
    manifest_args = container(one("Deployment", "dispatcher-worker"))["args"]
    assert option(worker_args, "--worker-shutdown-timeout") == option(
        manifest_args, "--worker-shutdown-timeout"
    )


def test_the_sentinel_compose_file_points_web_and_workers_at_its_sentinels() -> None:
    base = documents(DEPLOY / "docker-compose.yml")[0]["services"]
    services = documents(DEPLOY / "docker-compose.sentinel.yml")[0]["services"]
    sentinels = sorted(name for name in services if name.startswith("sentinel-"))
    assert len(sentinels) == 3
    replica = services["redis-replica"]["command"]
    assert option(replica, "--appendonly") == "yes"
    assert option(replica, "--replicaof") == "redis"
    for name in sentinels:
        script = services[name]["command"][-1]
        assert "'sentinel monitor mymaster redis 6379 2'" in script
        assert "--sentinel" in script
    for name in ("web", "worker"):
        assert name in base
        env = services[name]["environment"]
        settings = Settings(
            redis_sentinels=env["DISPATCHER_REDIS_SENTINELS"],
            redis_sentinel_master=env["DISPATCHER_REDIS_SENTINEL_MASTER"],
            claim_durability=env["DISPATCHER_CLAIM_DURABILITY"],
            _env_file=None,  # type: ignore[call-arg]
        )
        hosts = {host for host, _ in parse_sentinels(settings.redis_sentinels or "")}
        assert hosts == set(sentinels)
        assert settings.redis_sentinel_master == "mymaster"
        assert settings.claim_durability == "replica"
