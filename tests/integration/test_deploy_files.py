"""The image and the manifests, checked without a container engine or a cluster: they run the
commands the CLI has, probe routes the app answers, set only settings the service reads (and
enough of them to start), and every Kubernetes file is part of a kustomization."""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from entrypoints.cli import _parser
from infrastructure.config import Config, load_config
from tests.support.app import http_client

PROJECT = Path(__file__).resolve().parents[2]
KUBERNETES = PROJECT / "deploy" / "kubernetes"
CLOUD_RUN = PROJECT / "deploy" / "cloudrun"
VERSION = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["version"]
#: The keys of the Secret fdr-whatsapp-secrets that docs/deploy.md tells operators to create.
SECRET_KEYS = (
    "WA_DATABASE_URL",
    "WA_REDIS_URL",
    "WA_META_ACCESS_TOKEN",
    "WA_META_APP_SECRET",
    "WA_META_VERIFY_TOKEN",
    "WA_AUTH_JWT_SECRET",
)
SECRET_SAMPLES = {
    "WA_DATABASE_URL": "mysql+asyncmy://fdr:pw@10.0.0.5:3306/fdr",
    "WA_REDIS_URL": "redis://10.0.0.6:6379/0",
    "WA_AUTH_JWT_SECRET": "x" * 32,
}


# --- Dockerfile --------------------------------------------------------------------------------


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in _instructions(PROJECT / "Dockerfile"):
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def test_the_image_installs_the_lockfile_and_runs_every_command_as_a_non_root_user() -> None:
    stages = _stages()
    assert len(stages) >= 2, "multi-stage: the build tools stay behind"
    build, final = stages[0], stages[-1]
    syncs = [rest for keyword, rest in build if keyword == "RUN" and "uv sync" in rest]
    assert syncs
    assert all("--frozen" in s and "--no-dev" in s for s in syncs), syncs
    final_text = " ".join(f"{k} {r}" for k, r in final)
    # Nothing is installed or compiled in the final stage: it only copies the environment.
    assert not [r for k, r in final if k == "RUN" and re.search(r"pip|uv |apt|gcc", r)]
    assert [r for k, r in final if k == "COPY" and r.startswith("--from=build")]
    users = [r for k, r in final if k == "USER"]
    assert users, "the final stage sets a USER"
    user = users[-1].split(":")[0]
    args = dict(r.split("=", 1) for k, r in final if k == "ARG" and "=" in r)
    user = args.get(user.strip("${}"), user)
    assert user not in ("root", "0"), user
    assert [r for k, r in final if k == "ENTRYPOINT"] == ['["fdr-whatsapp"]']
    healthchecks = [r for k, r in final if k == "HEALTHCHECK"]
    assert healthchecks
    assert "/health/live" in healthchecks[0]
    assert not re.search(r"(SECRET|TOKEN|PASSWORD)\w*=", final_text), "no secret in the image"
    cmd = next(r for k, r in final if k == "CMD")
    _parser().parse_args(yaml.safe_load(cmd))  # the default command is one the CLI has


def test_only_what_the_image_needs_is_sent_to_the_build() -> None:
    lines = [
        line.strip()
        for line in (PROJECT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "everything is excluded first"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for keyword, rest in _instructions(PROJECT / "Dockerfile"):
        if keyword == "COPY" and not rest.startswith("--from"):
            copied.update(shlex.split(rest)[:-1])
    assert copied <= included, copied - included
    assert not included & {".env", "tests", ".git", ".venv", "var"}


# --- Kubernetes --------------------------------------------------------------------------------


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(KUBERNETES.glob("*/*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in _documents(path)
    ]


def _pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "CronJob"):
            spec = doc["spec"]
            if doc["kind"] == "CronJob":
                spec = spec["jobTemplate"]["spec"]
            yield doc["metadata"]["name"], spec["template"]["spec"]


def _by_kind(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in _manifests() if d["kind"] == kind and d["metadata"]["name"] == name)


def test_every_kubernetes_file_belongs_to_its_kustomization() -> None:
    folders = sorted(p.parent for p in KUBERNETES.glob("*/kustomization.yaml"))
    assert [f.name for f in folders] == ["app", "base", "migrate"]
    for folder in folders:
        listed = _documents(folder / "kustomization.yaml")[0]["resources"]
        files = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert files <= set(listed), f"{folder.name}: not listed {files - set(listed)}"
        for entry in listed:
            assert (folder / entry).exists(), f"{folder.name}: {entry} does not exist"
    for name in ("app", "migrate"):
        images = _documents(KUBERNETES / name / "kustomization.yaml")[0]["images"]
        assert [(i["name"], i["newTag"]) for i in images] == [("fdr-whatsapp", VERSION)]


def test_every_container_runs_a_cli_command_of_this_version_with_resources() -> None:
    specs = list(_pod_specs(_manifests()))
    assert {name for name, _ in specs} == {
        "fdr-whatsapp-serve",
        "fdr-whatsapp-pump",
        "fdr-whatsapp-worker",
        "fdr-whatsapp-migrate",
        "fdr-whatsapp-purge",
    }
    for name, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            assert container["image"] == f"fdr-whatsapp:{VERSION}", name
            _parser().parse_args(container["args"])
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert "memory" in resources["limits"], name
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            refs = [next(iter(e.values()))["name"] for e in container["envFrom"]]
            assert refs == ["fdr-whatsapp-config", "fdr-whatsapp-secrets"], name


def test_the_settings_are_ones_the_service_reads_and_enough_to_start() -> None:
    config_map = _by_kind("ConfigMap", "fdr-whatsapp-config")["data"]
    environ = {**config_map, **{key: SECRET_SAMPLES.get(key, "s" * 40) for key in SECRET_KEYS}}
    read = _names_read_by_the_service()
    assert set(environ) <= read, set(environ) - read
    config = load_config(environ, env_file=None)
    assert config.meta_sandbox is False
    assert config.pubsub_fdr_subscription
    deploy_doc = (PROJECT / "docs" / "deploy.md").read_text()
    assert all(f"`{key}`" in deploy_doc for key in SECRET_KEYS)


def _names_read_by_the_service() -> set[str]:
    names: set[str] = set()
    for path in (PROJECT / "src").rglob("*.py"):
        names.update(re.findall(r'"((?:WA|PUBSUB)_[A-Z0-9_]+)"', path.read_text()))
    return names


async def test_the_probes_ask_routes_the_app_answers(sqlite_url: str) -> None:
    serve = _by_kind("Deployment", "fdr-whatsapp-serve")["spec"]["template"]["spec"]
    container = serve["containers"][0]
    port = container["ports"][0]
    args = _parser().parse_args(container["args"])
    assert (args.host, args.port) == ("0.0.0.0", port["containerPort"])
    probes = [container[p] for p in ("startupProbe", "livenessProbe", "readinessProbe")]
    assert all(p["httpGet"]["port"] == port["name"] for p in probes)
    paths = {p["httpGet"]["path"] for p in probes}
    assert paths == {"/health/live", "/health/ready"}
    async with http_client(Config(database_url=sqlite_url)) as client:
        for path in paths:
            assert (await client.get(path)).status_code == 200, path
    service = _by_kind("Service", "fdr-whatsapp-serve")["spec"]
    assert service["ports"][0]["targetPort"] == port["name"]
    # The worker's probes ask its metrics server, on the port its settings give it.
    worker = _by_kind("Deployment", "fdr-whatsapp-worker")["spec"]["template"]["spec"]
    metrics_port = worker["containers"][0]["ports"][0]["containerPort"]
    config_map = _by_kind("ConfigMap", "fdr-whatsapp-config")["data"]
    assert str(metrics_port) == config_map["WA_WORKER_METRICS_PORT"]


def test_serve_leaves_the_stored_webhooks_to_the_pump_deployment() -> None:
    """serve runs with the pump off, so a pump Deployment must process what it stores, and
    its probes ask the metrics port its settings give it."""
    config_map = _by_kind("ConfigMap", "fdr-whatsapp-config")["data"]
    serve = _by_kind("Deployment", "fdr-whatsapp-serve")["spec"]["template"]["spec"]
    serve_env = {e["name"]: e["value"] for e in serve["containers"][0].get("env", [])}
    secrets = {key: SECRET_SAMPLES.get(key, "s" * 40) for key in SECRET_KEYS}
    config = load_config({**config_map, **secrets, **serve_env}, env_file=None)
    assert config.webhook_pump == "off"
    pump = _by_kind("Deployment", "fdr-whatsapp-pump")["spec"]
    assert pump["replicas"] >= 1
    container = pump["template"]["spec"]["containers"][0]
    assert _parser().parse_args(container["args"]).command == "pump"
    port = container["ports"][0]
    assert str(port["containerPort"]) == config_map["WA_PUMP_METRICS_PORT"]
    probes = [container[p] for p in ("startupProbe", "livenessProbe", "readinessProbe")]
    assert all(p["httpGet"]["port"] == port["name"] for p in probes)
    policy = _by_kind("NetworkPolicy", "fdr-whatsapp")["spec"]
    assert any(
        p["port"] == port["containerPort"] for rule in policy["ingress"] for p in rule["ports"]
    )


def test_workers_scale_on_the_backlog_of_the_subscription_they_pull() -> None:
    hpa = _by_kind("HorizontalPodAutoscaler", "fdr-whatsapp-worker")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "fdr-whatsapp-worker"
    external = hpa["metrics"][0]["external"]["metric"]
    assert external["name"] == "pubsub.googleapis.com|subscription|num_undelivered_messages"
    subscription = external["selector"]["matchLabels"]["resource.labels.subscription_id"]
    config_map = _by_kind("ConfigMap", "fdr-whatsapp-config")["data"]
    assert subscription == config_map["WA_PUBSUB_FDR_SUBSCRIPTION"]


# --- Cloud Run ---------------------------------------------------------------------------------


def _cloud_run_containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(CLOUD_RUN.glob("*.yaml")):
        doc = _documents(path)[0]
        template = doc["spec"]["template"]["spec"]
        if doc["kind"] == "Job":
            template = template["template"]["spec"]
        for container in template["containers"]:
            yield path.name, container


@pytest.mark.parametrize("name", ["serve.yaml", "worker-pool.yaml", "migrate-job.yaml"])
def test_each_cloud_run_file_starts_a_service_whose_settings_load(name: str) -> None:
    container = dict(_cloud_run_containers())[name]
    assert container["image"].endswith(f"/fdr-whatsapp:{VERSION}")
    _parser().parse_args(container["args"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert set(env) <= _names_read_by_the_service(), set(env) - _names_read_by_the_service()
    # Secrets come from Secret Manager; a sample of each stands in for it here.
    environ = {
        key: value if value is not None else SECRET_SAMPLES.get(key, "s" * 40)
        for key, value in env.items()
    }
    load_config(environ, env_file=None)
    assert "cpu" in container["resources"]["limits"]


def test_pushes_to_cloud_run_are_authenticated_by_the_subscriptions_oidc_token() -> None:
    serve = dict(_cloud_run_containers())["serve.yaml"]
    env = {e["name"]: e.get("value") for e in serve["env"]}
    config = load_config(
        {k: v if v is not None else SECRET_SAMPLES.get(k, "s" * 40) for k, v in env.items()},
        env_file=None,
    )
    assert config.pubsub_push_audience
    assert config.pubsub_push_audience.endswith("/pubsub/push/fdr")
    assert config.pubsub_push_service_account
    probes = {serve[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe")}
    assert probes == {"/health/ready", "/health/live"}
    worker = dict(_cloud_run_containers())["worker-pool.yaml"]
    assert "WA_PUBSUB_FDR_SUBSCRIPTION" in {e["name"] for e in worker["env"]}
