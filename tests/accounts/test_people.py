"""Signing up, logging in and out, passwords, and what repeated failures earn."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import api_key_create
from accounts.services import organization_create
from registry.services import repository_get_or_create
from tests.world import random_source_ip

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    # The production hasher is slow on purpose; these tests are about the flows around it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def person() -> User:
    return User.objects.create_user("ada@example.test", PASSWORD)


def test_it_signs_up_a_person_and_logs_them_in() -> None:
    client = Client()
    response = client.post(
        reverse("signup"),
        {"email": "Grace@Example.test", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert User.objects.filter(email="grace@example.test").exists()
    assert client.get(reverse("org-list")).status_code == 200


def test_it_refuses_a_second_account_for_one_email(person: User) -> None:
    response = Client().post(
        reverse("signup"),
        {"email": "ADA@example.test", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert "already exists" in response.content.decode()


def test_it_logs_in_and_out(person: User) -> None:
    client = Client()
    login = client.post(reverse("login"), {"username": person.email, "password": PASSWORD})
    assert login.status_code == 302
    assert client.get(reverse("org-list")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("org-list")).status_code == 302


def test_it_resets_a_forgotten_password_by_email(person: User, mailoutbox: list[Any]) -> None:
    client = Client()
    client.post(reverse("password_reset"), {"email": person.email})
    assert mailoutbox[-1].to == [person.email]
    path = re.search(r"https?://[^/\s]+(/\S+)", mailoutbox[-1].body).group(1)  # type: ignore[union-attr]
    form_page = client.get(path, follow=True)
    new = "a new and long passphrase"
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}
    )
    assert done.status_code == 302
    assert Client().login(username=person.email, password=new)


def test_it_changes_a_password(person: User) -> None:
    client = Client()
    client.force_login(person)
    new = "another long passphrase"
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.check_password(new)


def test_it_holds_back_an_account_after_repeated_failed_logins(person: User, settings: Any) -> None:
    settings.AUTH_FAILURE_LIMITS = {**settings.AUTH_FAILURE_LIMITS, "login": (3, 300)}
    ip = random_source_ip()
    wrong = {"username": person.email, "password": "wrong"}
    statuses = [Client(REMOTE_ADDR=ip).post(reverse("login"), wrong).status_code for _ in range(3)]
    assert statuses == [200] * 3
    right = {"username": person.email, "password": PASSWORD}
    held = Client(REMOTE_ADDR=ip).post(reverse("login"), right)
    assert held.status_code == 429
    assert 0 < int(held["Retry-After"]) <= 300
    # The account is held back from anywhere: guessing its password from many addresses.
    assert Client(REMOTE_ADDR=random_source_ip()).post(reverse("login"), right).status_code == 429
    # Other people behind that address still log in.
    User.objects.create_user("grace@example.test", PASSWORD)
    other = {"username": "grace@example.test", "password": PASSWORD}
    assert Client(REMOTE_ADDR=ip).post(reverse("login"), other).status_code == 302


def test_it_holds_back_an_address_trying_many_accounts(person: User, settings: Any) -> None:
    settings.AUTH_FAILURE_LIMITS = {**settings.AUTH_FAILURE_LIMITS, "login-source": (3, 300)}
    ip = random_source_ip()
    statuses = [
        Client(REMOTE_ADDR=ip)
        .post(reverse("login"), {"username": f"user{i}@example.test", "password": "guess"})
        .status_code
        for i in range(3)
    ]
    assert statuses == [200] * 3
    right = {"username": person.email, "password": PASSWORD}
    assert Client(REMOTE_ADDR=ip).post(reverse("login"), right).status_code == 429
    assert Client(REMOTE_ADDR=random_source_ip()).post(reverse("login"), right).status_code == 302


def test_it_holds_back_an_address_after_repeated_failed_key_checks(settings: Any) -> None:
    settings.AUTH_FAILURE_LIMITS = {**settings.AUTH_FAILURE_LIMITS, "key": (5, 300)}
    owner = User.objects.create_user("owner@acme.test")
    organization = organization_create(slug="acme", name="Acme", creator=owner)
    repository_get_or_create(organization=organization, slug="main")
    good = api_key_create(organization=organization, name="ci").token
    url = reverse("simple-index", kwargs={"org": "acme", "repo": "main"})
    attacker = Client(REMOTE_ADDR=random_source_ip())
    statuses = [
        attacker.get(url, HTTP_AUTHORIZATION=f"Bearer whk_{i:012d}_guess").status_code
        for i in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    held = attacker.get(url, HTTP_AUTHORIZATION="Bearer whk_000000000099_guess")
    assert held.status_code == 429
    assert int(held["Retry-After"]) > 0
    # A key that verifies is never held back, whoever else shares its address.
    assert attacker.get(url, HTTP_AUTHORIZATION=f"Bearer {good}").status_code == 200
    # Requests without credentials are not failures: pip always asks without them first.
    other = Client(REMOTE_ADDR=random_source_ip())
    assert [other.get(url).status_code for _ in range(6)] == [401] * 6
    assert other.get(url, HTTP_AUTHORIZATION=f"Bearer {good}").status_code == 200
