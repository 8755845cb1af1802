from __future__ import annotations

import pytest

from config.settings import DATA_DIR
from config.settings import _email_settings
from config.settings import env_str


def test_it_writes_mail_to_files_in_the_data_folder_without_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Never the console: sign-up, reset and invitation links must not land in server logs."""
    for name in ("EMAIL_URL", "EMAIL_HOST", "EMAIL_FILE_PATH"):
        monkeypatch.delenv(name, raising=False)
    config = _email_settings()
    assert config["EMAIL_BACKEND"].endswith("filebased.EmailBackend")
    assert config["EMAIL_FILE_PATH"] == str(DATA_DIR / "mail")


def test_it_treats_an_empty_variable_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """`DATABASE_URL=` in a compose file used to crash every command (check --deploy too)."""
    monkeypatch.setenv("DATABASE_URL", "")
    assert env_str("DATABASE_URL", "sqlite:///x") == "sqlite:///x"


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
