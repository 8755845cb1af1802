from __future__ import annotations

import base64
import json
from typing import Any

from django.test import Client

from tests.world import World
from tests.world import random_source_ip

SESSION_ACTORS = {"owner", "admin", "member", "reader", "b_member"}


class Api:
    """A JSON client for /api/v1/ acting as one of the world's actors."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, path: str, query: dict[str, Any] | None = None, **extra: Any) -> Any:
        return self.client.get(f"/api/v1/{path}", query, **extra)

    def send(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        body = "" if data is None else json.dumps(data)
        return self.client.generic(
            method, f"/api/v1/{path}", body, content_type="application/json", **extra
        )

    def post(self, path: str, data: Any = None) -> Any:
        return self.send("POST", path, data)

    def patch(self, path: str, data: Any) -> Any:
        return self.send("PATCH", path, data)

    def delete(self, path: str) -> Any:
        return self.send("DELETE", path)


def as_actor(world: World, actor: str, *, scheme: str = "Bearer") -> Api:
    """`actor` is a user of the world (a session) or one of its key names (a key)."""
    ip = random_source_ip()
    if actor in world.users and actor in SESSION_ACTORS:
        client = Client(REMOTE_ADDR=ip)
        client.force_login(world.users[actor])
        return Api(client)
    return Api(
        Client(REMOTE_ADDR=ip, HTTP_AUTHORIZATION=authorization(world.tokens[actor], scheme))
    )


def authorization(token: str, scheme: str = "Bearer") -> str:
    if scheme == "Basic":
        return "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
    return f"{scheme} {token}"


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]
