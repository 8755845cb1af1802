"""How many queries each dashboard page costs: pinned exactly, and the same with 2 items as
with 11, so a query per row (N+1) or any new query fails here.

Measured on the steady request of a logged-in owner. Every page starts with the session and
the user; organization pages then read the membership (with its organization and role), and
the header's organization switcher lists the user's memberships (with their organizations).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.budgets import ORG
from tests.budgets import PROJECT
from tests.budgets import REPO
from tests.budgets import BudgetTenant
from tests.budgets import session_client

pytestmark = pytest.mark.django_db

ORG_PATH = f"/orgs/{ORG}"
R = f"{ORG_PATH}/repos/{REPO}"


@dataclass(frozen=True)
class Page:
    path: str
    queries: int
    # What the page must show for each of the n items: proves the items were on it.
    shows: Callable[[int], list[str]]


PAGES = [
    # membership, usage (bytes and files, projects, releases, repositories), member count,
    # switcher, repositories with their project and file counts, downloads (totals, top
    # projects)
    Page(f"{ORG_PATH}/", 12, lambda n: [f"repo-{i}" for i in range(n)]),
    # membership, repository, the virtual repositories it is a member of, switcher, how many
    # projects (pages), a page of projects with release counts and last release, and their
    # releases (for each project's latest version)
    Page(f"{R}/", 9, lambda n: [f"proj-{i}" for i in range(n)]),
    # membership, switcher, how many projects match, a page of them (with repositories),
    # their releases
    Page(f"{ORG_PATH}/search/?q=proj", 7, lambda n: [f"proj-{i}" for i in range(n)]),
    # membership, repository, project, releases, their files (with uploading key and its
    # user), switcher, each version's last download: the release history lists every
    # version...
    Page(f"{R}/projects/{PROJECT}/", 9, lambda n: [f"1.{i}" for i in range(n)]),
    # ...and a version's page its files, each with its uploader, at the same cost
    Page(
        f"{R}/projects/{PROJECT}/versions/1.0/",
        9,
        lambda n: (
            [f"1.{i}" for i in range(n)]
            + [f"lib-1.0-py3{i}-none-any.whl" for i in range(n)]
            + [f"member{i}@budget.test" for i in range(n)]
        ),
    ),
    # membership, switcher, keys (with user and creator), their repository limits, the new
    # key form's repository choices
    Page(f"{ORG_PATH}/keys/", 7, lambda n: [f"personal {i}" for i in range(n)]),
    # membership, switcher, members with their users, pending invitations
    Page(
        f"{ORG_PATH}/members/",
        6,
        lambda n: (
            [f"member{i}@budget.test" for i in range(n)]
            + [f"invitee{i}@budget.test" for i in range(n)]
        ),
    ),
    # membership, the filter's action choices, switcher, how many events (pages), a page of
    # events with their keys and users
    Page(f"{ORG_PATH}/audit/", 7, lambda n: [f"repository {ORG}/repo-{i}" for i in range(n)]),
    # the user's memberships (with organizations), switcher
    Page("/orgs/", 4, lambda n: [f"Budget {i}" for i in range(1, n)]),
]


@pytest.mark.parametrize("page", [pytest.param(p, id=p.path) for p in PAGES])
def test_each_page_costs_its_budget_whatever_the_number_of_rows(
    budget_tenant: BudgetTenant, page: Page, django_assert_num_queries: Any
) -> None:
    client = session_client(budget_tenant)
    assert client.get(page.path).status_code == 200
    with django_assert_num_queries(page.queries):
        response = client.get(page.path)
    assert response.status_code == 200
    html = response.content.decode()
    missing = [text for text in page.shows(budget_tenant.n) if text not in html]
    assert not missing
