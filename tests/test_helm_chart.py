"""The Helm chart (deploy/helm/wheelhouse): `helm lint` and `helm template` accept it, with its
defaults and with other values, and what it renders is valid Kubernetes (the API's own JSON
schemas, strict: an unknown field fails) that runs what the code reads and serves.

The real helm binary runs (`make helm` installs it into .venv/bin; HELM names another)."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from django.conf import settings
from django.http.request import validate_host
from django.urls import resolve

from config.health import healthz
from tests.clients import BIN
from tests.conftest import DEFAULT_REDIS_URL
from tests.conftest import fresh_database
from tests.services import S3_ACCESS_KEY
from tests.services import S3_SECRET_KEY
from tests.services import SeaweedFS
from tests.services import bucket_delete
from tests.services import free_port
from tests.services import redis_keys_delete
from tests.services import start_process
from tests.services import stop_process
from tests.services import wait_for
from tests.test_docker_compose import CORE_VARIABLES
from tests.test_docker_compose import SECRET_NAME
from tests.test_docker_compose import defines
from tests.test_docker_compose import settings_variables

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "wheelhouse"
# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the newest schemas known.
KUBE_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())
# The probe's answer as the kubelet reads it: a redirect is an answer, not followed.
NO_REDIRECTS = urllib.request.build_opener(
    type(
        "NoRedirects", (urllib.request.HTTPRedirectHandler,), {"redirect_request": lambda *a: None}
    )
)
DEFAULT_KINDS = {
    ("Deployment", "web"), ("Deployment", "worker"), ("Deployment", "beat"), ("Service", "web"),
    ("Ingress", "web"), ("HorizontalPodAutoscaler", "web"), ("PodDisruptionBudget", "web"),
    ("Job", "migrations"),
}  # fmt: skip
REQUIRED_SECRETS = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "S3_ACCESS_KEY_ID",
                    "S3_SECRET_ACCESS_KEY"}  # fmt: skip
# Variables holding a password or a key, in a URL or alone.
SECRET_VARIABLES = REQUIRED_SECRETS | {"API_KEY_PEPPER", "EMAIL_URL", "CELERY_BROKER_URL"}
# Another shape of deployment: its own S3, no autoscaling, no Ingress, the chart's own Secret
# (made-up credentials, as a team would pass them with --values from a file kept out of git).
OTHER_VALUES: dict[str, Any] = {
    "image": {"repository": "registry.example.com/wheelhouse", "tag": "2026.11.1"},
    "publicUrl": "https://packages.example.org/",
    "allowedHosts": ["packages.example.org", ".internal.example.org"],
    "trustedProxyCount": 2,
    "maxUploadSizeMB": 300,
    "s3": {
        "bucket": "wheels",
        "region": "eu-west-1",
        "endpointUrl": "http://seaweedfs.storage.svc:8333",
        "publicEndpointUrl": "https://s3.packages.example.org",
    },
    "env": {"LOG_LEVEL": "WARNING", "UPSTREAM_TIMEOUT": 30, "FILE_CLAIM_SECONDS": "45"},
    "secret": {
        "create": True,
        "data": {
            "SECRET_KEY": "not-a-real-key",
            "DATABASE_URL": "postgres://wheelhouse:pw@db.example.org/wheelhouse",
            "REDIS_URL": "redis://:pw@redis.example.org:6379/0",
            "S3_ACCESS_KEY_ID": "id",
            "S3_SECRET_ACCESS_KEY": "secret",
            "EMAIL_URL": "smtps://mailer:pw@smtp.example.org",
        },
    },
    "web": {"replicas": 3, "workers": 3, "autoscaling": {"enabled": False}},
    "worker": {"replicas": 2, "concurrency": 4},
    "ingress": {"enabled": False},
    "networkPolicy": {"enabled": True},
}


def helm_binary() -> str:
    # Beside the Python running the tests: .venv/bin, where `make helm` puts it.
    beside = shutil.which("helm", path=str(BIN))
    found = os.environ.get("HELM") or beside or shutil.which("helm")
    if not found:
        pytest.fail("no helm binary: `make helm` installs it into .venv/bin (or set HELM)")
    return found


def helm(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # helm keeps its configuration and caches under these; nothing of the user's is read.
    env = os.environ | {
        f"HELM_{kind}_HOME": str(tmp / kind) for kind in ("CONFIG", "CACHE", "DATA")
    }
    return subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@functools.cache
def _render(values_json: str, extra: tuple[str, ...]) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory(prefix="wheelhouse-helm-") as tmp:
        values = Path(tmp) / "values.yaml"
        values.write_text(yaml.safe_dump(json.loads(values_json)))
        result = helm(Path(tmp), "template", "reg", str(CHART), "--namespace", "pkgs",
                      "--values", str(values), *extra)  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def render(values: dict[str, Any] | None = None, *extra: str) -> list[dict[str, Any]]:
    code, out, err = _render(json.dumps(values or {}, sort_keys=True), extra)
    assert code == 0, err
    return [doc for doc in yaml.safe_load_all(out) if doc]


def render_error(values: dict[str, Any], *extra: str) -> str:
    code, _, err = _render(json.dumps(values, sort_keys=True), extra)
    assert code != 0, "helm template accepted what it should refuse"
    return err


def component(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["labels"].get("app.kubernetes.io/component", ""))


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and component(o) == name]
    return found


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in {"Deployment", "Job"}:
            yield component(obj), obj["spec"]["template"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container["env"]}


def value(container: dict[str, Any], name: str) -> str:
    return str(env_of(container)[name]["value"])


def main_container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (container,) = one(objects, "Deployment", name)["spec"]["template"]["spec"]["containers"]
    return container


def web_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return main_container(objects, "web")


@pytest.fixture(scope="module")
def defaults() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="module")
def other() -> list[dict[str, Any]]:
    return render(OTHER_VALUES)


@pytest.fixture(params=["defaults", "other"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return request.getfixturevalue(request.param)


def test_helm_lint_accepts_the_chart(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(OTHER_VALUES))
    for extra in ([], ["--values", str(values)]):
        result = helm(tmp_path, "lint", "--strict", str(CHART), *extra)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_helm_lint_refuses_values_the_schema_does_not_know(tmp_path: Path) -> None:
    # A second beat would queue every periodic task twice: there is no such setting to make.
    result = helm(tmp_path, "lint", str(CHART), "--set", "beat.replicas=2")
    assert result.returncode != 0
    # (helm 3 and 4 word it differently.)
    assert re.search(r"beat\W.*\Wreplicas\W.*not allowed", result.stdout + result.stderr, re.I)
    result = helm(tmp_path, "lint", str(CHART), "--set", "publicUrl=pypi.example.com")
    assert result.returncode != 0


def test_it_renders_every_part(defaults: list[dict[str, Any]], other: list[dict[str, Any]]) -> None:
    assert {(o["kind"], component(o)) for o in defaults} == DEFAULT_KINDS
    kinds = {(o["kind"], component(o)) for o in other}
    # No autoscaler and no Ingress when they are off; the chart's Secret when it makes one.
    assert kinds == (
        DEFAULT_KINDS - {("Ingress", "web"), ("HorizontalPodAutoscaler", "web")}
        | {("Secret", ""), ("NetworkPolicy", "web"), ("NetworkPolicy", "")}
    )
    assert not [o for o in defaults if o["kind"] == "Secret"]
    (secret,) = [o for o in other if o["kind"] == "Secret"]
    assert set(secret["stringData"]) == REQUIRED_SECRETS | {"EMAIL_URL"}


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_object_is_valid_kubernetes(rendered: list[dict[str, Any]], version: str) -> None:
    for obj in rendered:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']} ({version}): {exc.message}")


def test_it_renders_for_the_kubernetes_versions_it_declares() -> None:
    for version in KUBE_VERSIONS:
        assert render({}, "--kube-version", version)
    assert "kubeVersion" in render_error({}, "--kube-version", "1.24.0")


def test_every_container_reads_only_variables_the_settings_read(
    rendered: list[dict[str, Any]],
) -> None:
    known = settings_variables((ROOT / "config" / "settings.py").read_text())
    for name, pod in pod_specs(rendered):
        for container in containers(pod):
            names = set(env_of(container))
            assert not names - known, f"{name}: settings.py never reads {names - known}"
            # Without S3_ENDPOINT_URL the storage is AWS S3 (the compose file always sets it).
            missing = CORE_VARIABLES - {"S3_ENDPOINT_URL"} - names
            assert not missing, f"{name} lacks {missing}"
            assert not container.get("envFrom"), "every name is listed, so it can be checked"


def test_credentials_come_from_the_secret_only(rendered: list[dict[str, Any]]) -> None:
    for name, pod in pod_specs(rendered):
        for container in containers(pod):
            for variable, item in env_of(container).items():
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if SECRET_NAME.search(variable) or variable in SECRET_VARIABLES:
                    assert ref, f"{name}: {variable} is not read from the Secret"
                else:
                    assert not re.match(r"\w+://[^/@]*:[^@]*@", item["value"]), variable
                if variable in REQUIRED_SECRETS:
                    # A pod without one would run on a key or a database of its own: it must
                    # not start at all.
                    assert not ref.get("optional"), f"{name}: {variable} is optional"
    # The defaults hold no credential at all.
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert defaults["secret"] == {"name": "", "create": False, "data": {}}


def test_every_pod_of_a_release_has_the_same_settings(rendered: list[dict[str, Any]]) -> None:
    # The worker must store files where the web server looks, with the same key and database.
    envs = [env_of(c) for _, pod in pod_specs(rendered) for c in containers(pod)]
    assert all(env == envs[0] for env in envs)


def test_settings_follow_the_values(other: list[dict[str, Any]]) -> None:
    web = web_container(other)
    assert value(web, "PUBLIC_URL") == "https://packages.example.org"
    assert value(web, "ALLOWED_HOSTS") == "packages.example.org,.internal.example.org"
    assert value(web, "CSRF_TRUSTED_ORIGINS") == "https://packages.example.org"
    assert value(web, "TRUSTED_PROXY_COUNT") == "2"
    assert value(web, "MAX_UPLOAD_SIZE") == str(300 * 1024 * 1024)
    assert value(web, "S3_BUCKET") == "wheels"
    assert value(web, "S3_ENDPOINT_URL") == "http://seaweedfs.storage.svc:8333"
    assert value(web, "S3_PUBLIC_ENDPOINT_URL") == "https://s3.packages.example.org"
    assert value(web, "UPSTREAM_TIMEOUT") == "30"
    assert web["image"] == "registry.example.com/wheelhouse:2026.11.1"
    assert "--workers=3" in web["command"]
    assert one(other, "Deployment", "web")["spec"]["replicas"] == 3
    assert "--concurrency=4" in main_container(other, "worker")["command"]
    assert one(other, "Deployment", "worker")["spec"]["replicas"] == 2


def test_the_defaults_fit_an_ingress_that_terminates_tls(defaults: list[dict[str, Any]]) -> None:
    web = web_container(defaults)
    assert value(web, "PUBLIC_URL").startswith("https://")
    assert value(web, "ALLOWED_HOSTS") == urlsplit(value(web, "PUBLIC_URL")).hostname
    # ingress-nginx writes the one X-Forwarded-For entry the app believes.
    assert value(web, "TRUSTED_PROXY_COUNT") == "1"
    assert value(web, "BEHIND_TLS_PROXY") == "true"
    assert value(web, "SECURE_SSL_REDIRECT") == "true"
    assert "S3_ENDPOINT_URL" not in env_of(web)  # AWS S3 unless told otherwise


def test_web_is_probed_at_healthz_with_a_host_it_accepts(rendered: list[dict[str, Any]]) -> None:
    web = web_container(rendered)
    probe = web["startupProbe"]["httpGet"]
    assert resolve(probe["path"]).func is healthz
    (header,) = probe["httpHeaders"]
    assert header["name"] == "Host"
    host = header["value"]
    assert host == urlsplit(value(web, "PUBLIC_URL")).hostname
    allowed = value(web, "ALLOWED_HOSTS").split(",")
    assert validate_host(host, allowed)
    # /healthz is asked over plain http inside the cluster: it must not be redirected.
    assert any(re.match(p, probe["path"].lstrip("/")) for p in settings.SECURE_REDIRECT_EXEMPT)
    (port,) = web["ports"]
    assert probe["port"] == port["name"]
    assert f"--bind=0.0.0.0:{port['containerPort']}" in web["command"]
    # /healthz fails while a dependency every pod shares is down: probing it for liveness
    # would restart every pod at once, for readiness take them all out of the Service.
    for kind in ("livenessProbe", "readinessProbe"):
        assert web[kind]["tcpSocket"]["port"] == port["name"], kind


def test_the_commands_run_what_the_code_defines(rendered: list[dict[str, Any]]) -> None:
    web = web_container(rendered)
    module, attr = web["command"][1].split(":")
    assert web["command"][0] == "gunicorn"
    assert defines(ROOT / f"{module.replace('.', '/')}.py", attr)
    for name in ("worker", "beat"):
        command = main_container(rendered, name)["command"]
        assert command[:3] == ["celery", "--app=config", name]
        assert defines(ROOT / "config" / "celery.py", "app")
    job = one(rendered, "Job", "migrations")["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert (ROOT / "manage.py").is_file()
    # The image does not hold collected static files: each web pod collects them first.
    (init,) = one(rendered, "Deployment", "web")["spec"]["template"]["spec"]["initContainers"]
    assert init["command"][:3] == ["python", "manage.py", "collectstatic"]


def test_beat_is_always_one_pod(rendered: list[dict[str, Any]]) -> None:
    beat = one(rendered, "Deployment", "beat")
    assert beat["spec"]["replicas"] == 1
    # Recreate: the old beat stops before the new one starts, so even an upgrade never runs two.
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert not [o for o in rendered if o["kind"] == "HorizontalPodAutoscaler"
                and o["spec"]["scaleTargetRef"]["name"] == beat["metadata"]["name"]]  # fmt: skip


def test_migrations_run_as_a_hook_before_install_and_upgrade(
    rendered: list[dict[str, Any]],
) -> None:
    annotations = one(rendered, "Job", "migrations")["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    assert (
        one(rendered, "Job", "migrations")["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    )
    # The chart's own Secret, which the Job reads, is made before it.
    for secret in [o for o in rendered if o["kind"] == "Secret"]:
        hook = secret["metadata"]["annotations"]
        assert "pre-install" in hook["helm.sh/hook"]
        assert int(hook["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])


def test_web_scales_on_cpu(defaults: list[dict[str, Any]]) -> None:
    hpa = one(defaults, "HorizontalPodAutoscaler", "web")
    web = one(defaults, "Deployment", "web")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": web["metadata"]["name"],
    }  # fmt: skip
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    # Utilization is of the request; and the autoscaler owns the count, not each upgrade.
    assert web_container(defaults)["resources"]["requests"]["cpu"]
    assert "replicas" not in web["spec"]
    changed = render({"web": {"autoscaling": {"minReplicas": 3, "maxReplicas": 30,
                                              "targetCPUUtilizationPercentage": 55}}})  # fmt: skip
    spec = one(changed, "HorizontalPodAutoscaler", "web")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 30)
    assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 55


def test_selectors_find_their_pods(rendered: list[dict[str, Any]]) -> None:
    web = one(rendered, "Deployment", "web")
    labels = web["spec"]["template"]["metadata"]["labels"]
    service = one(rendered, "Service", "web")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == web_container(rendered)["ports"][0]["name"]
    pdb = one(rendered, "PodDisruptionBudget", "web")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for name in ("worker", "beat"):
        other_labels = one(rendered, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        # No Service or budget of the web pods takes in another component's pods.
        assert not service["spec"]["selector"].items() <= other_labels.items()
    for obj in rendered:
        if obj["kind"] == "Deployment":
            selector = obj["spec"]["selector"]["matchLabels"]
            assert selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items()


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions with In) selects these labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_only_the_ingress_controller_reaches_the_web_pods(other: list[dict[str, Any]]) -> None:
    policies = [o for o in other if o["kind"] == "NetworkPolicy"]
    pods = {
        component(o): o["spec"]["template"]["metadata"]["labels"]
        for o in other
        if o["kind"] in {"Deployment", "Job"}
    }
    for name, labels in pods.items():
        (policy,) = [p for p in policies if matches(p["spec"]["podSelector"], labels)]
        rules = policy["spec"].get("ingress", [])
        if name == "web":
            (rule,) = rules
            (source,) = rule["from"]
            assert source["namespaceSelector"]["matchLabels"] == {
                "kubernetes.io/metadata.name": "ingress-nginx"
            }
            assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        else:
            assert policy["spec"]["policyTypes"] == ["Ingress"]
            assert not rules, f"{name} takes connections"


def test_the_ingress_is_the_buffering_front(defaults: list[dict[str, Any]]) -> None:
    ingress = one(defaults, "Ingress", "web")
    annotations = ingress["metadata"]["annotations"]
    web = web_container(defaults)
    host = urlsplit(value(web, "PUBLIC_URL")).hostname
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == host
    assert ingress["spec"]["tls"][0]["hosts"] == [host]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == one(defaults, "Service", "web")["metadata"]["name"]
    # nginx reads the whole body before a gunicorn thread sees the request, and the whole
    # answer before it trickles it to a slow client.
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "on"
    # A body the server would take (the file and its form fields) passes; a larger one is
    # refused before it is read.
    size = re.fullmatch(r"(\d+)m", annotations["nginx.ingress.kubernetes.io/proxy-body-size"])
    assert size
    largest_accepted = int(value(web, "MAX_UPLOAD_SIZE")) + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert largest_accepted < int(size[1]) * 1024 * 1024 <= largest_accepted + 2 * 1024 * 1024
    # A proxy repository's first download of a large wheel may wait for the whole upstream file.
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) > (
            settings.UPSTREAM_FILE_TIMEOUT
        )
    # A team's own annotations are added, and win.
    mine = {"cert-manager.io/cluster-issuer": "letsencrypt",
            "nginx.ingress.kubernetes.io/proxy-body-size": "500m"}  # fmt: skip
    changed = one(render({"ingress": {"annotations": mine}}), "Ingress", "web")
    assert mine.items() <= changed["metadata"]["annotations"].items()


def test_pods_run_unprivileged_on_a_read_only_root(rendered: list[dict[str, Any]]) -> None:
    data_dir = re.search(r"DATA_DIR=(\S+)", (ROOT / "Dockerfile").read_text())
    assert data_dir
    for name, pod in pod_specs(rendered):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        # With the container settings below: Kubernetes' "restricted" Pod Security Standard.
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {v["name"] for v in pod["volumes"]}
        for container in containers(pod):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            # What is written goes to scratch volumes: temporary files and DATA_DIR.
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert {"/tmp", data_dir[1]} <= set(mounts), name
            assert set(mounts.values()) <= volumes, name
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"]["memory"], name


def test_it_refuses_values_that_cannot_work() -> None:
    # The probes ask for the public host: Django must answer it.
    assert "allowedHosts must accept pypi.example.com" in render_error(
        {"allowedHosts": ["other.example.com"]}
    )
    # A Secret the chart makes without a credential would start pods on keys of their own.
    assert "secret.data.SECRET_KEY is required" in render_error(
        {"secret": {"create": True, "data": {"DATABASE_URL": "postgres://db/x"}}}
    )
    data = dict(OTHER_VALUES["secret"]["data"], UNUSED="x")
    assert "secret.data.UNUSED" in render_error({"secret": {"create": True, "data": data}})


def pod_command(container: dict[str, Any], scratch: Path, port: int) -> list[str]:
    """A container's command as this machine runs it: the pod's /tmp volume is a folder of
    its own, and it listens on a free loopback port (the pod has an address of its own)."""
    command = [arg.replace("/tmp/", f"{scratch}/") for arg in container["command"]]
    return [re.sub(r"^--bind=0\.0\.0\.0:\d+$", f"--bind=127.0.0.1:{port}", arg) for arg in command]


def pod_env(container: dict[str, Any], secret: dict[str, str], scratch: Path) -> dict[str, str]:
    """The container's environment, its Secret's keys resolved as the kubelet does, over what
    the image sets (Dockerfile ENV: PYTHONPATH=/app, here the checkout; DATA_DIR on its volume)."""
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(scratch),
        "PYTHONPATH": str(ROOT),
        "DATA_DIR": str(scratch / "var"),
        "TMPDIR": str(scratch),
    }
    for name, item in env_of(container).items():
        if "value" in item:
            env[name] = item["value"]
        elif (ref := item["valueFrom"]["secretKeyRef"])["key"] in secret:
            env[name] = secret[ref["key"]]
        else:
            assert ref.get("optional"), f"the Secret lacks {ref['key']}"
    return env


@pytest.mark.e2e
def test_the_rendered_pods_run_against_real_services(s3: SeaweedFS, session_dir: Path) -> None:
    """Each container's command and environment, as the chart renders them, run here against
    PostgreSQL, Redis and S3: the migrations Job, the web pod's collectstatic and gunicorn
    (probed as the kubelet would), the worker and beat."""
    work = Path(tempfile.mkdtemp(prefix="helm-", dir=session_dir))
    suffix = os.urandom(4).hex()
    bucket = f"wheelhouse-helm-{suffix}"
    s3.create_bucket(bucket)
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    processes: list[subprocess.Popen[bytes]] = []

    def pod(kind: str, name: str) -> tuple[Path, list[dict[str, Any]]]:
        scratch = work / name
        (scratch / "var").mkdir(parents=True)
        return scratch, containers(one(objects, kind, name)["spec"]["template"]["spec"])

    def start(name: str, container: dict[str, Any], scratch: Path, port: int = 0) -> None:
        command = pod_command(container, scratch, port)
        env = pod_env(container, secret, scratch)
        processes.append(start_process(command, env=env, log=work / f"{name}.log"))

    def run(container: dict[str, Any], scratch: Path) -> None:
        command = pod_command(container, scratch, 0)
        env = pod_env(container, secret, scratch)
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr

    try:
        with fresh_database() as database_url:
            credentials = {
                "SECRET_KEY": os.urandom(32).hex(),
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "S3_ACCESS_KEY_ID": S3_ACCESS_KEY,
                "S3_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            }
            objects = render({
                "publicUrl": "https://pypi.helm.test",
                "s3": {"bucket": bucket, "endpointUrl": s3.endpoint},
                # Its own queue and cache keys on the shared Redis; beat's sweep every second.
                "env": {"CELERY_QUEUE": f"helm-{suffix}", "CACHE_KEY_PREFIX": f"helm-{suffix}",
                        "PENDING_SWEEP_SECONDS": "1"},
                "secret": {"create": True, "data": credentials},
            })  # fmt: skip
            (secret_object,) = [o for o in objects if o["kind"] == "Secret"]
            secret = secret_object["stringData"]

            # The hook Job first, as Helm runs it: the schema is in place before a pod starts.
            scratch, (migrate,) = pod("Job", "migrations")
            run(migrate, scratch)
            web_scratch, (collectstatic, web) = pod("Deployment", "web")
            run(collectstatic, web_scratch)
            static_files = list((web_scratch / "var" / "static").rglob("*.css"))
            assert static_files, "collectstatic wrote nothing into DATA_DIR"
            web_port = free_port()
            start("web", web, web_scratch, web_port)
            for name in ("worker", "beat"):
                scratch, (container,) = pod("Deployment", name)
                start(name, container, scratch)

            # The startup probe, as the kubelet sends it: /healthz with the public host.
            probe = web["startupProbe"]["httpGet"]
            headers = {h["name"]: h["value"] for h in probe["httpHeaders"]}

            def get(path: str, **extra: str) -> tuple[int, dict[str, str], bytes]:
                url = f"http://127.0.0.1:{web_port}{path}"
                request = urllib.request.Request(url, headers=headers | extra)
                try:
                    with NO_REDIRECTS.open(request, timeout=10) as response:
                        return response.status, dict(response.headers), response.read()
                except urllib.error.HTTPError as exc:
                    return exc.code, dict(exc.headers), exc.read()
                except OSError:
                    return 0, {}, b""

            wait_for(lambda: get(probe["path"])[0] == 200, timeout=120, what="the startup probe")
            checks = ("database", "cache", "broker", "storage")
            expected = {
                "ok": True,
                "degraded": [],
                "checks": {check: {"ok": True} for check in checks},
            }
            assert json.loads(get(probe["path"])[2]) == expected
            # Behind the Ingress (TLS, X-Forwarded-Proto): the pod serves the dashboard's static
            # files itself; a plain http request is sent to https.
            css = static_files[0].relative_to(web_scratch / "var" / "static")
            status, _, body = get(f"/static/{css}", **{"X-Forwarded-Proto": "https"})
            assert (status, body) == (200, static_files[0].read_bytes())
            status, answer_headers, _ = get("/")
            assert (status, answer_headers["Location"]) == (301, "https://pypi.helm.test/")

            # Beat queues its sweep on the chart's queue, and the worker runs it.
            def swept() -> bool:
                for process in processes:
                    assert process.poll() is None, f"a pod's process exited; logs in {work}"
                return "requeue_pending_files_task" in (work / "worker.log").read_text()

            wait_for(swept, timeout=60, what="the worker running beat's sweep")
            for process in reversed(processes):
                stop_process(process, grace=10)
    finally:
        for process in processes:
            if process.poll() is None:
                stop_process(process, grace=10)
        bucket_delete(s3.client(), bucket)
        redis_keys_delete(redis_url, f"helm-{suffix}")
