from __future__ import annotations

import pytest

from config.settings import _email_settings


def test_it_prints_mail_to_the_console_without_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EMAIL_URL", raising=False)
    monkeypatch.delenv("EMAIL_HOST", raising=False)
    assert _email_settings()["EMAIL_BACKEND"].endswith("console.EmailBackend")


def test_it_sends_smtp_mail_configured_by_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAIL_URL", "smtps://mailer:p%40ss@smtp.example.test:2465")
    config = _email_settings()
    assert config["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
    assert (config["EMAIL_HOST"], config["EMAIL_PORT"]) == ("smtp.example.test", 2465)
    assert (config["EMAIL_HOST_USER"], config["EMAIL_HOST_PASSWORD"]) == ("mailer", "p@ss")
    assert config["EMAIL_USE_SSL"] is True


def test_it_sends_smtp_mail_configured_by_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMAIL_URL", raising=False)
    monkeypatch.setenv("EMAIL_HOST", "relay.example.test")
    config = _email_settings()
    assert (config["EMAIL_HOST"], config["EMAIL_PORT"], config["EMAIL_USE_TLS"]) == (
        "relay.example.test", 587, True,
    )  # fmt: skip
