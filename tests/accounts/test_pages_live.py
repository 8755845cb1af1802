"""The account pages and their stylesheet, served by the real stacks."""

from __future__ import annotations

import re

import pytest
import requests

from tests.clients import http
from tests.services import EmbeddedStack
from tests.services import LiveStack

pytestmark = pytest.mark.e2e


def test_it_serves_the_login_page_with_its_stylesheet(stack: LiveStack) -> None:
    page = http("GET", stack.url("accounts/login/"))
    assert page.status == 200
    assert 'name="username"' in page.text
    # Scripts only from static files: the Content-Security-Policy forbids inline code.
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert all('src="/static/' in tag for tag in scripts), scripts
    css = re.search(r'href="([^"]+\.css)"', page.text)
    assert css is not None
    sheet = http("GET", stack.url(css.group(1)))
    assert sheet.status == 200
    assert sheet.headers["Content-Type"].startswith("text/css")


def test_it_sends_people_who_are_not_logged_in_to_the_login_page(stack: LiveStack) -> None:
    response = http("GET", stack.url("orgs/"))
    assert response.status == 302
    assert "/accounts/login/" in response.headers["Location"]


def test_make_run_tells_a_newcomer_how_to_log_in_and_that_works(
    embedded_stack: EmbeddedStack,
) -> None:
    """`make run` is `manage.py serve`: its first start prints a login that opens the demo."""
    printed = (embedded_stack.workdir / "serve.log").read_text()
    email = re.search(r"email:\s+(\S+)", printed)
    password = re.search(r"password:\s+(\S+)", printed)
    assert email is not None, printed
    assert password is not None, printed
    session = requests.Session()
    login = embedded_stack.url("accounts/login/")
    session.get(login, timeout=30)
    form = {
        "csrfmiddlewaretoken": session.cookies["csrftoken"],
        "username": email.group(1),
        "password": password.group(1),
    }
    answer = session.post(login, data=form, timeout=30, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    home = session.get(embedded_stack.url("orgs/"), timeout=30)
    assert 'href="/orgs/demo/"' in home.text
