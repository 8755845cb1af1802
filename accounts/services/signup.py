"""Sign-up that tells nobody whether an address has an account.

Every sign-up answers the same "check your email" page. The mail differs: a new address gets
a link to choose its password (which is when the account becomes usable), a known one is
told it already has an account. The password is chosen from the link, never in the form: so
whoever signs up with somebody else's address first can never set that person's password.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlencode
from django.utils.http import urlsafe_base64_decode
from django.utils.http import urlsafe_base64_encode

from accounts.models import User


def _mail(user_email: str, subject: str, template: str, context: dict[str, str]) -> None:
    body = render_to_string(template, context)
    transaction.on_commit(
        lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user_email])
    )


def signup_request(*, email: str, name: str, next_url: str = "") -> None:
    """Start a sign-up for `email`: mail it a link to choose a password, or, when the address
    already has a working account, tell its owner so. Nothing in the answer says which."""
    email = User.objects.normalize_email(email).lower()
    base = settings.PUBLIC_URL
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is not None and user.is_active and user.has_usable_password():
            links = {"login": base + reverse("login"), "reset": base + reverse("password_reset")}
            subject = "You already have a Wheelhouse account"
            _mail(email, subject, "accounts/email/signup_exists.txt", {"email": email, **links})
            return
        if user is None:
            user = User.objects.create_user(email=email, name=name.strip(), is_active=False)
        path = reverse(
            "signup-activate",
            kwargs={
                "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": default_token_generator.make_token(user),
            },
        )
        query = f"?{urlencode({'next': next_url})}" if next_url else ""
        context = {"email": email, "url": f"{base}{path}{query}"}
        _mail(
            email, "Finish signing up to Wheelhouse", "accounts/email/signup_activate.txt", context
        )


def signup_user(*, uidb64: str, token: str) -> User | None:
    """The account a sign-up link is for, while the link is valid (once, and in time)."""
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    user = User.objects.filter(pk=pk).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


def signup_complete(*, user: User, password: str) -> User:
    """Choose the password and open the account. Setting it also spends the link: the token
    is derived from the password hash, so it can not be used again."""
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    return user
