"""Signing up, logging in and out, passwords, and what repeated failures earn."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.db import DatabaseError
from django.db import transaction
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import api_key_create
from accounts.services import organization_create
from accounts.services import signup_complete
from accounts.services import signup_request
from accounts.services import signup_user
from accounts.services import user_get_or_create
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


def mailed_link(mail: Any) -> str:
    return re.findall(r"http://\S+", mail.body)[0]


@pytest.mark.django_db(transaction=True)  # mail goes out on commit
def test_it_signs_up_a_person_through_the_link_it_mails(mailoutbox: list[Any]) -> None:
    client = Client()
    response = client.post(reverse("signup"), {"email": "Grace@Example.test", "name": "Grace"})

    assert response.headers["Location"] == reverse("signup-sent")
    (mail,) = mailoutbox
    assert mail.to == ["grace@example.test"]
    # Nothing works before the password is chosen from the link.
    grace = User.objects.get(email="grace@example.test")
    assert (grace.name, grace.is_active) == ("Grace", False)
    link = mailed_link(mail)
    assert client.get(link).status_code == 200
    done = client.post(link, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert done.headers["Location"] == reverse("org-list")
    assert client.get(reverse("org-list")).status_code == 200
    # The link is spent with the password it set.
    assert Client().get(link).status_code == 410
    again = Client().post(link, {"new_password1": "another one 123", "new_password2": "x"})
    assert again.status_code == 410


def test_an_account_deleted_while_its_password_is_chosen_stays_deleted(
    mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    """The sign-up link found the account, then an administrator deleted it before the
    password was saved: choosing the password does not bring the account back."""
    with django_capture_on_commit_callbacks(execute=True):
        signup_request(email="grace@example.test", name="Grace")
    uidb64, token = mailed_link(mailoutbox[-1]).rstrip("/").split("/")[-2:]
    user = signup_user(uidb64=uidb64, token=token)
    assert user is not None
    User.objects.filter(pk=user.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        signup_complete(user=user, password=PASSWORD)
    assert not User.objects.filter(email="grace@example.test").exists()


@pytest.mark.django_db(transaction=True)  # mail goes out on commit
def test_it_answers_a_sign_up_for_a_known_address_exactly_as_for_a_new_one(
    person: User, mailoutbox: list[Any]
) -> None:
    known = Client().post(reverse("signup"), {"email": "ADA@example.test", "name": "Eve"})
    new = Client().post(reverse("signup"), {"email": "bob@example.test", "name": "Bob"})

    assert (known.status_code, known.headers["Location"]) == (
        new.status_code,
        new.headers["Location"],
    )
    # The owner of the known address is told, and nobody can set their password.
    to_ada = next(m for m in mailoutbox if m.to == ["ada@example.test"])
    assert to_ada.subject == "You already have a Wheelhouse account"
    assert to_ada.from_email == settings.DEFAULT_FROM_EMAIL
    assert "already has an" in to_ada.body
    assert "/accounts/signup/" not in to_ada.body
    # Where to log in, and where to choose a new password if that is what they forgot.
    assert f"Log in here:\n{settings.PUBLIC_URL}{reverse('login')}\n" in to_ada.body
    assert f"Choose a new one here:\n{settings.PUBLIC_URL}{reverse('password_reset')}\n" in (
        to_ada.body
    )
    to_bob = next(m for m in mailoutbox if m.to == ["bob@example.test"])
    assert to_bob.subject == "Finish signing up to Wheelhouse"
    assert to_bob.from_email == settings.DEFAULT_FROM_EMAIL
    person.refresh_from_db()
    assert person.check_password(PASSWORD)


@pytest.mark.django_db(transaction=True)  # mail goes out on commit
def test_it_never_lets_an_earlier_sign_up_choose_the_owners_password(
    mailoutbox: list[Any],
) -> None:
    """Someone signs up with another's address; the owner then signs up too. Only links in
    the owner's mailbox work, and each sets the password the clicker chooses."""
    Client().post(reverse("signup"), {"email": "carol@example.test"})
    Client().post(reverse("signup"), {"email": "carol@example.test"})
    first, second = (mailed_link(m) for m in mailoutbox)
    owner = Client()
    owner.post(second, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert User.objects.get(email="carol@example.test").check_password(PASSWORD)
    assert Client().get(first).status_code == 410


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


def test_it_builds_reset_links_from_the_public_url_whatever_host_was_asked(
    person: User, mailoutbox: list[Any], settings: Any
) -> None:
    settings.PUBLIC_URL = "https://packages.example.com"
    settings.ALLOWED_HOSTS = ["packages.example.com", "elsewhere.example"]

    Client().post(reverse("password_reset"), {"email": person.email}, HTTP_HOST="elsewhere.example")

    (link,) = re.findall(r"\S+/accounts/password/reset/\S+", mailoutbox[-1].body)
    assert link.startswith("https://packages.example.com/accounts/password/reset/")


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


def test_an_account_provisioned_with_a_password_logs_in_with_it() -> None:
    user = user_get_or_create(email="ops@example.test", password=PASSWORD)
    assert user.check_password(PASSWORD)
    # Asked again, the same account; its password is not changed.
    assert user_get_or_create(email="OPS@example.test", password="something else") == user
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
