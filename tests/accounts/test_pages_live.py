"""The account pages and their stylesheet, served by the real stacks."""

from __future__ import annotations

import re

import pytest

from tests.clients import http
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
