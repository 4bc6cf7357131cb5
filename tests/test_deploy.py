"""deploy/: the Kubernetes manifests against the API schemas, and what must agree across files.

kubernetes-validate ships the Kubernetes JSON schemas, so the core kinds are schema-validated
offline; KEDA's CRDs are not in it, so its objects are checked field by field. Everything that must
agree between files (names, labels, ports, probes, queue keys, shutdown timeouts, the settings'
variable names, the lock) is checked here rather than trusted.
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

from dispatcher.settings import Settings
from dispatcher.store.keys import Keys

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30.0"
#: Environment variables that are not dispatcher settings but are meant.
OTHER_VARIABLES = {
    "PROMETHEUS_MULTIPROC_DIR",
    "dramatiq_prom_db",
    "REDIS_ADDRESS",
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


def test_keda_scales_the_worker_deployment_on_its_dramatiq_queues() -> None:
    config = one("ConfigMap", "dispatcher-config")["data"]
    keys = Keys(config["DISPATCHER_KEY_PREFIX"])
    queue = f"{keys.dramatiq_namespace}:{config['DISPATCHER_QUEUE_NAME']}"
    scaled = one("ScaledObject", "dispatcher-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "dispatcher-worker"
    assert scaled["minReplicaCount"] >= 1  # the watchdog must always run somewhere
    assert scaled["maxReplicaCount"] > scaled["minReplicaCount"]
    lists = {t["metadata"]["listName"] for t in scaled["triggers"]}
    assert lists == {queue, f"{queue}.DQ"}
    auth = one("TriggerAuthentication", "dispatcher-redis")["spec"]["secretTargetRef"]
    secret = one("Secret", "dispatcher-secrets")["stringData"]
    for trigger in scaled["triggers"]:
        assert trigger["type"] == "redis"
        assert trigger["authenticationRef"]["name"] == "dispatcher-redis"
        assert int(trigger["metadata"]["listLength"]) > 0
    assert {ref["parameter"] for ref in auth} == {"address", "password"}
    assert all(ref["key"] in secret for ref in auth)


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
    compose = documents(DEPLOY / "docker-compose.yml")[0]
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
        "DISPATCHER_REDIS_URL",
    }
    assert sensitive <= secret
    assert not sensitive & config


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    schema_text = (
        resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text(encoding="utf-8")
    )
    schema = json.loads(schema_text)
    validator = jsonschema.Draft202012Validator(schema)
    compose = documents(DEPLOY / "docker-compose.yml")[0]
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


def test_the_dockerfile_is_slim_non_root_and_installs_only_the_lock() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert stages
    assert all("slim" in image for image in stages)
    final = text.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER (?!0\b|root\b)\S+", final, flags=re.MULTILINE)
    assert "build-essential" not in final
    installs = re.findall(r"pip install [^\n\\]*(?:\\\n[^\n\\]*)*", final)
    assert installs
    assert all("--no-index" in line for line in installs)
    assert "requirements.lock" in final


def test_the_lock_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = (DEPLOY / "requirements.lock").read_text(encoding="utf-8").splitlines()
    pins = [line for line in lines if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[a-z0-9\-]+==[\w.\-+]+", pin) for pin in pins), pins
    locked = {canonicalize_name(pin.split("==")[0]) for pin in pins}
    environment = {"sys_platform": "linux", "python_version": "3.11"}
    needed = {
        canonicalize_name(req.name)
        for req in map(Requirement, project["dependencies"])
        if req.marker is None or req.marker.evaluate(environment)
    }
    assert needed <= locked, needed - locked


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
