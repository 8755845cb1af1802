"""docker-compose.yml and the Dockerfile agree with what the code reads and runs."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from django.urls import Resolver404
from django.urls import resolve

from config.health import healthz
from uploads.web import MULTIPART_OVERHEAD

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")
CORE_VARIABLES = {
    "DATABASE_URL", "REDIS_URL", "S3_BUCKET", "S3_ENDPOINT_URL", "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY", "SECRET_KEY",
}  # fmt: skip
# Without these the app still starts, on a key or credentials of its own: compose must refuse.
REQUIRED_VARIABLES = ("SECRET_KEY", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PEPPER|AUTH")
REFERENCE = re.compile(r"\$\{[A-Z][A-Z0-9_]*(:?[?-][^}]*)?\}")
ENV_READERS = {"env_str", "env_bool", "env_int", "env_list", "os.environ.get", "os.getenv"}
FILE_READERS = {"env_str", "env_list"}  # env_str also reads <NAME>_FILE (Docker secrets)


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: str(value) for name, value in env.items()}


def command(service: dict[str, Any]) -> str:
    cmd = service.get("command", "")
    return cmd if isinstance(cmd, str) else " ".join(cmd)


def settings_variables(source: str) -> set[str]:
    """The names read by calls like env_str("NAME") or os.environ.get("NAME")."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        first, func = node.args[0], ast.unparse(node.func)
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and func in ENV_READERS:
            names.add(first.value)
            if func in FILE_READERS:
                names.add(f"{first.value}_FILE")
    return names


def defines(module: Path, name: str) -> bool:
    if not module.is_file():
        return False
    tree = ast.parse(module.read_text())
    targets = (t for node in tree.body if isinstance(node, ast.Assign) for t in node.targets)
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def test_it_finds_the_variables_settings_read() -> None:
    source = 'env_str("A")\nenv_bool("B", True)\nos.environ.get("C")\nenv_int(name, 1)\nf("D")'
    assert settings_variables(source) == {"A", "A_FILE", "B", "C"}


def nginx_directives() -> dict[str, list[str]]:
    """deploy/nginx.conf's directives, name -> every value it is given (comments dropped)."""
    text = re.sub(r"#[^\n]*", "", (ROOT / "deploy" / "nginx.conf").read_text())
    found: dict[str, list[str]] = {}
    for name, value in re.findall(r"(?m)^\s*(\w+)\s+([^;{]*);", text):
        found.setdefault(name, []).append(value.strip())
    return found


def nginx_size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * 1024 ** "kmg".index(unit.lower()) * 1024 if unit else int(number)


def test_it_reads_nginx_sizes() -> None:
    assert [nginx_size(v) for v in ("512", "2k", "3m", "1g")] == [512, 2048, 3 << 20, 1 << 30]


def test_it_defines_every_service() -> None:
    expected = {"postgres", "redis", "s3", "front", *APP_SERVICES}
    assert expected <= set(compose()["services"])


def test_it_sets_only_variables_the_settings_read() -> None:
    known = settings_variables((ROOT / "config" / "settings.py").read_text())
    for name in APP_SERVICES:
        unknown = set(environment(compose()["services"][name])) - known
        assert not unknown, f"{name} sets variables config/settings.py never reads: {unknown}"


def test_it_sets_the_core_variables_for_every_app_service() -> None:
    for name in APP_SERVICES:
        missing = CORE_VARIABLES - set(environment(compose()["services"][name]))
        assert not missing, f"{name} lacks {missing}"


def test_it_starts_app_services_once_postgres_and_redis_are_healthy() -> None:
    for name in APP_SERVICES:
        depends_on = compose()["services"][name].get("depends_on", {})
        for dependency in ("postgres", "redis"):
            assert depends_on.get(dependency) == {"condition": "service_healthy"}, name


def test_it_takes_secrets_from_the_environment() -> None:
    for name, service in compose()["services"].items():
        for variable, value in environment(service).items():
            if SECRET_NAME.search(variable):
                assert REFERENCE.fullmatch(value), f"{name}: {variable} is a literal"
            password = re.match(r"\w+://[^/:@]*:([^@]*)@", value)
            if password:
                assert REFERENCE.fullmatch(password[1]), f"{name}: {variable} holds a password"
    for name in APP_SERVICES:
        env = environment(compose()["services"][name])
        for variable in REQUIRED_VARIABLES:
            assert env[variable].startswith(f"${{{variable}:?"), f"{name}: {variable} optional"


def test_it_runs_modules_that_exist() -> None:
    dockerfile_cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M)
    assert dockerfile_cmd
    services = compose()["services"]
    wsgi_commands = [" ".join(json.loads(dockerfile_cmd[1])), command(services["web"])]
    for cmd in wsgi_commands:
        target = re.search(r"gunicorn ([\w.]+):(\w+)", cmd)
        assert target, cmd
        assert defines(ROOT / f"{target[1].replace('.', '/')}.py", target[2]), cmd
    for name in ("worker", "beat"):
        app = re.search(r"celery -A ([\w.]+) ", command(services[name]))
        assert app, name
        # `celery -A config` loads config.app, or config.celery's app when that is a module.
        package = ROOT / app[1].replace(".", "/")
        assert defines(package / "__init__.py", "app") or defines(package / "celery.py", "app")
    assert "manage.py" not in command(services["web"]) or (ROOT / "manage.py").is_file()


def test_it_checks_web_health_at_the_healthz_route() -> None:
    web = compose()["services"]["web"]
    probe = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", " ".join(web["healthcheck"]["test"]))
    assert probe
    assert f"--bind 0.0.0.0:{probe[1]} " in command(web)
    try:
        view = resolve(probe[2]).func
    except Resolver404:
        view = None
    assert view is healthz, f"{probe[2]} is not the /healthz view"


def test_it_copies_every_package_into_the_image() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    # Every package the application is made of (the import contracts name them all) is
    # installed and copied: `core` once was neither, and the image could not start.
    application = set(pyproject["tool"]["importlinter"]["root_packages"])
    assert application <= set(packages)
    copy_lines = re.findall(r"^COPY (.+)$", (ROOT / "Dockerfile").read_text(), re.M)
    copied = {source for line in copy_lines for source in line.split()[:-1]}
    assert {*packages, "templates", "manage.py"} <= copied


def test_clients_reach_web_only_through_the_buffering_front() -> None:
    """Slow clients must cost nginx a connection, never a gunicorn thread (issue 14)."""
    services = compose()["services"]
    assert "ports" not in services["web"], "web is published: clients would bypass nginx"
    front = services["front"]
    assert front["image"].startswith("nginx:")
    published = [port.rsplit(":", 1) for port in front["ports"]]
    assert published == [["${WHEELHOUSE_BIND:-127.0.0.1}:${WHEELHOUSE_PORT:-8000}", "80"]]
    assert front["depends_on"]["web"] == {"condition": "service_healthy"}
    # The file the tests run Debian's nginx with (tests/front.py) is the one compose mounts.
    mounted = {c["source"]: c["target"] for c in front["configs"]}
    assert mounted == {"nginx-conf": "/etc/nginx/conf.d/default.conf"}
    assert compose()["configs"]["nginx-conf"] == {"file": "./deploy/nginx.conf"}
    nginx = nginx_directives()
    assert nginx["listen"] == ["80"]
    web_port = re.search(r"--bind 0\.0\.0\.0:(\d+) ", command(services["web"]))
    assert web_port
    assert nginx["set"] == [f"$web http://web:{web_port[1]}"]
    assert nginx["proxy_pass"] == ["$web"]


def test_the_front_buffers_requests_and_answers_and_times_out_silent_clients() -> None:
    nginx = nginx_directives()
    assert nginx["proxy_request_buffering"] == ["on"]
    assert nginx["proxy_buffering"] == ["on"]
    assert nginx_size(nginx["client_body_buffer_size"][0]) >= 64 * 1024
    for timeout in ("client_header_timeout", "client_body_timeout", "send_timeout",
                    "keepalive_timeout"):  # fmt: skip
        assert re.fullmatch(r"\d+s", nginx[timeout][0]), timeout
        assert int(nginx[timeout][0][:-1]) <= 120, timeout
    assert nginx["keepalive_requests"]


def test_the_front_takes_bodies_up_to_what_the_app_accepts() -> None:
    """Past the app's own limit nginx answers 413; below it, the app answers with its reason
    (uploads/web.py refuses a body above the file limit, form fields and multipart framing)."""
    from django.conf import settings  # noqa: PLC0415

    limit = settings.MAX_UPLOAD_SIZE + settings.DATA_UPLOAD_MAX_MEMORY_SIZE + MULTIPART_OVERHEAD
    assert nginx_size(nginx_directives()["client_max_body_size"][0]) == limit


def test_the_app_trusts_exactly_the_front_as_a_proxy_by_default() -> None:
    nginx = nginx_directives()
    appends = [v for v in nginx["proxy_set_header"] if v.split()[0] == "X-Forwarded-For"]
    assert appends == ["X-Forwarded-For $proxy_add_x_forwarded_for"]
    for name in APP_SERVICES:
        count = environment(compose()["services"][name])["TRUSTED_PROXY_COUNT"]
        assert count == "${TRUSTED_PROXY_COUNT:-1}", name
