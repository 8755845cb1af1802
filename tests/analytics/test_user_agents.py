"""The installer, its version, the Python and the platform, read from real User-Agents."""

from __future__ import annotations

import pytest

from analytics.useragents import Client
from analytics.useragents import parse
from tests.analytics.user_agents import OLD_PDM
from tests.analytics.user_agents import OLD_PIP
from tests.analytics.user_agents import PDM
from tests.analytics.user_agents import PIP
from tests.analytics.user_agents import POETRY
from tests.analytics.user_agents import UV


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (PIP, Client("pip", "26.3", "3.11.7", "CPython", "Linux", "x86_64")),
        (UV, Client("uv", "0.13.9", "3.11.7", "CPython", "Linux", "x86_64")),
        (POETRY, Client("poetry", "2.5.1", "3.11.7", "CPython", "Linux")),
        (PDM, Client("pdm", "2.29.4", "3.11.7", "CPython", "Linux")),
        (OLD_PIP, Client("pip", "1.5.6", "2.7.6", "CPython", "Darwin")),
        (OLD_PDM, Client("pdm", "2.10.0", "3.12.1", "CPython")),
    ],
)
def test_it_reads_each_installer_as_linehaul_does(user_agent: str, expected: Client) -> None:
    assert parse(user_agent) == expected


@pytest.mark.parametrize(
    "user_agent",
    [
        "",
        "curl/8.5.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
        "python-requests/2.32.3",
        'twine/6.1.0 {"installer":{"name":"twine"}}',
        "Poetry",
    ],
)
def test_anything_else_is_other(user_agent: str) -> None:
    found = parse(user_agent)
    assert found.installer == "other"


def test_a_broken_json_part_still_names_the_installer() -> None:
    assert parse("pip/25.0 {not json") == Client("pip", "25.0")


def test_what_a_client_says_is_kept_only_as_short_plain_tokens() -> None:
    hostile = (
        'pip/25.0 {"installer":{"name":"pip","version":"<script>"},"python":"3.12.1'
        + "9" * 100
        + '","system":{"name":["Linux"]},"cpu":"x86_64\\n=cmd"}'
    )
    found = parse(hostile)
    assert found == Client("pip", "", "3.12.1" + "9" * 10, "", "", "")
