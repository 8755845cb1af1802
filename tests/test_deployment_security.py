"""Security settings: the CSP header, and `check --deploy` clean with production settings."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.test import Client

from config.settings import _email_settings
from tests.services import PROJECT_ROOT

pytestmark = pytest.mark.django_db

PRODUCTION = {
    "DEBUG": "",
    "SECRET_KEY": secrets.token_urlsafe(60),
    "PUBLIC_URL": "https://packages.example.com",
    "ALLOWED_HOSTS": "packages.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "BEHIND_TLS_PROXY": "true",
}


def _check_deploy(tmp_path: object, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {k: v for k, v in os.environ.items() if k not in {"SECURE_COOKIES", "DEBUG"}}
    variables.update(DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_ROOT, env=variables, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_it_passes_the_deployment_checks_with_production_settings(tmp_path: object) -> None:
    result = _check_deploy(tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_fails_the_deployment_checks_without_https_settings(tmp_path: object) -> None:
    insecure = {
        **PRODUCTION,
        "PUBLIC_URL": "http://packages.example.com",
        "SECURE_HSTS_SECONDS": "",
    }
    result = _check_deploy(tmp_path, **insecure)
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS" in result.stderr + result.stdout
    assert "SESSION_COOKIE_SECURE" in result.stderr + result.stdout


def test_it_sends_a_content_security_policy_without_inline_code() -> None:
    response = Client().get("/accounts/login/")
    policy = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy
    assert "<script>" not in response.content.decode()
    assert " style=" not in response.content.decode()


def test_it_protects_dashboard_forms_with_csrf(django_user_model: object) -> None:
    user = django_user_model.objects.create_user("csrf@example.test", "pw-long-enough-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    refused = client.post("/orgs/new/", {"slug": "sneaky", "name": "Sneaky"})
    assert refused.status_code == 403
    page = client.get("/orgs/new/")
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()


def test_it_writes_mail_to_files_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMAIL_URL", raising=False)
    monkeypatch.delenv("EMAIL_HOST", raising=False)
    monkeypatch.setenv("EMAIL_FILE_PATH", "/var/mail/wheelhouse")
    config = _email_settings()
    assert config["EMAIL_BACKEND"].endswith("filebased.EmailBackend")
    assert config["EMAIL_FILE_PATH"] == "/var/mail/wheelhouse"
