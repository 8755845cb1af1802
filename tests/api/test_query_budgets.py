"""How many queries each REST API read costs: pinned exactly, and the same with 2 items as
with 11, so a query per item (N+1) or any new query fails here.

Measured on the steady request: the first request of a client may write once more (a key's
last_used_at). Per actor, the fixed part is
  key:     the key (with its organization and user); a limited key's repositories once it
           looks at repositories (the key here covers all repositories, stored on the key
           itself, so it reads none);
  session: the session, the user; the membership (with its organization) once it looks at
           an organization;
then what each line says. A paginated list costs a count and a page.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.budgets import ORG
from tests.budgets import PROJECT
from tests.budgets import REPO
from tests.budgets import VERSION
from tests.budgets import BudgetTenant
from tests.budgets import key_client
from tests.budgets import session_client

pytestmark = pytest.mark.django_db

ORG_PATH = f"orgs/{ORG}"
R = f"{ORG_PATH}/repos/{REPO}"
P = f"{R}/projects/{PROJECT}"
FILENAME = "lib-1.0-py30-none-any.whl"


def results(body: Any) -> int:
    return len(body["results"])


@dataclass(frozen=True)
class Budget:
    path: str
    key: int | None  # None: a key may not read it (owners and admins only)
    session: int
    # How many items the answer holds, given n and the actor: proves the n items were there.
    items: Callable[[int, str], int]
    count: Callable[[Any], int] = results


BUDGETS = [
    # key: count, page | session: count, page with the role from the membership join
    Budget("orgs/", 3, 4, lambda n, actor: 1 if actor == "key" else n),
    # key: its organization | session: organizations with the role from the membership join
    Budget(
        "user/",
        2,
        3,
        lambda n, actor: 1 if actor == "key" else n,
        lambda body: len(body["organizations"]),
    ),
    # count, page of memberships with their users
    Budget(f"{ORG_PATH}/members/", 3, 5, lambda n, actor: n + 1),
    # count, page of invitations with who invited
    Budget(f"{ORG_PATH}/invitations/", None, 5, lambda n, actor: n),
    # count, page of keys with their users and creators, the page's repository limits
    Budget(f"{ORG_PATH}/keys/", 4, 6, lambda n, actor: 1 if actor == "key" else n + 1),
    # count, page of events
    Budget(f"{ORG_PATH}/audit/", None, 5, lambda n, actor: 2 * n + 3),
    # stored bytes and files, projects, releases, repositories (4 aggregates, each over the
    # repositories the actor may read as a subquery)
    Budget(f"{ORG_PATH}/usage/", 5, 7, lambda n, actor: 5, lambda body: len(body)),
    # count, page of repositories with their organization
    Budget(f"{ORG_PATH}/repos/", 3, 5, lambda n, actor: n + 1),
    # repository (with organization), count, page of projects
    Budget(f"{R}/projects/", 4, 6, lambda n, actor: n + 1),
    # repository, project, count, page of releases (each knows its project)
    Budget(f"{P}/releases/", 5, 7, lambda n, actor: n),
    # repository, project, release, its files (with repository and organization, for URLs)
    Budget(f"{P}/releases/{VERSION}/", 5, 7, lambda n, actor: n, lambda body: len(body["files"])),
    # repository, count, page of files (with release, project, repository, organization)
    Budget(f"{R}/files/", 4, 6, lambda n, actor: 2 * n),
    # repository, the file (with release, project, repository, organization)
    Budget(f"{R}/files/{FILENAME}", 3, 5, lambda n, actor: 1, lambda body: 1),
]


def client_for(budget_tenant: BudgetTenant, actor: str) -> Client:
    return key_client(budget_tenant) if actor == "key" else session_client(budget_tenant)


def cases() -> list[Any]:
    return [
        pytest.param(budget, actor, id=f"{actor}:{budget.path}")
        for budget in BUDGETS
        for actor in ("key", "session")
        if actor == "session" or budget.key is not None
    ]


@pytest.mark.parametrize(("budget", "actor"), cases())
def test_each_read_costs_its_budget_whatever_the_number_of_items(
    budget_tenant: BudgetTenant, budget: Budget, actor: str, django_assert_num_queries: Any
) -> None:
    client = client_for(budget_tenant, actor)
    assert client.get(f"/api/v1/{budget.path}").status_code == 200
    expected = budget.key if actor == "key" else budget.session
    with django_assert_num_queries(expected):
        response = client.get(f"/api/v1/{budget.path}")
    assert response.status_code == 200
    assert budget.count(response.json()) == budget.items(budget_tenant.n, actor)


def _tables(sql: str) -> list[str]:
    return re.findall(r'FROM "(\w+)"', sql)


@pytest.mark.parametrize("actor", ["key", "session"])
@pytest.mark.parametrize("path", [f"{P}/releases/{VERSION}/", f"{R}/files/{FILENAME}"])
def test_the_base_view_looks_each_tenant_object_up_once(
    budget_tenant: BudgetTenant, actor: str, path: str
) -> None:
    """The organization, repository, project and release are each read once per request;
    below the lookups, only the files are read (never their repository or organization)."""
    client = client_for(budget_tenant, actor)
    client.get(f"/api/v1/{path}")
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/api/v1/{path}").status_code == 200
    # The key's own queries (it, and its repository limits) are the actor's, not lookups.
    lookups = [q["sql"] for q in queries.captured_queries if "accounts_apikey" not in q["sql"]]
    read = Counter(table for sql in lookups for table in _tables(sql))
    for table in ("accounts_organization", "accounts_membership", "registry_repository"):
        assert read[table] <= 1, (table, lookups)
    assert read["registry_project"] == (1 if "/releases/" in path else 0)
    assert read["registry_release"] == (1 if "/releases/" in path else 0)
    assert read["registry_file"] == 1
