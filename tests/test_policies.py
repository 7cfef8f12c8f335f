"""Every route and page declares who may call it, and answers as declared: 401 without sign-in,
403 for a role it does not allow, not 401/403 for one it allows. A new route without a declared
policy fails here."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from huiminbao.access.policies import Allow, HospitalSigned, Public, SignedIn, declared_policy
from huiminbao.identity.models import Role
from tests.conftest import csrf

SAMPLE_PATH_VALUES = {"plan_id": "liaocheng-2024"}


def routes(client: TestClient) -> list[APIRoute]:
    return [r for r in client.app.routes if isinstance(r, APIRoute)]


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH_VALUES.get(m.group(1), "x"), path)


def test_every_route_and_page_declares_one_policy(client: TestClient) -> None:
    missing = [
        f"{sorted(r.methods)} {r.path}" for r in routes(client) if declared_policy(r.dependant.dependencies) is None
    ]
    assert missing == []


def test_a_route_without_a_policy_is_caught(client: TestClient) -> None:
    @client.app.get("/api/v1/forgotten")
    def forgotten() -> dict:
        return {}

    route = next(r for r in routes(client) if r.path == "/api/v1/forgotten")
    assert declared_policy(route.dependant.dependencies) is None


@pytest.mark.parametrize("role", [None, *[r.value for r in Role]])
def test_each_route_answers_each_role_as_declared(client: TestClient, sign_in: Any, role: str | None) -> None:
    headers = sign_in(role) if role else {}
    headers = {**headers, "X-CSRF-Token": csrf(client)}  # forms pass their CSRF check; the policy decides
    for route in routes(client):
        policy = declared_policy(route.dependant.dependencies)
        for method in sorted(route.methods - {"HEAD"}):
            res = client.request(method, concrete(route.path), headers=headers, follow_redirects=False)
            where = f"{method} {route.path} as {role}"
            if isinstance(policy, Public):
                assert res.status_code not in (401, 403), where
            elif isinstance(policy, HospitalSigned):
                assert res.status_code == 401, where  # a bearer token is no signature
            elif isinstance(policy, SignedIn):
                if role is None:
                    assert res.status_code == 303 and res.headers["location"].startswith("/login"), where
                elif Role(role) in policy.roles:
                    assert res.status_code not in (401, 403), where
                else:
                    assert res.status_code == 403, where
            elif isinstance(policy, Allow):
                if role is None:
                    assert res.status_code == 401, where
                elif Role(role) in policy.roles:
                    assert res.status_code not in (401, 403), where
                else:
                    assert res.status_code == 403, where
            assert res.status_code < 500, where


def test_the_notifications_outbox_is_for_administrators_only(client: TestClient, sign_in: Any) -> None:
    """Staff see the outbox through ``GET /api/v1/notifications``; it names the persons messages are for,
    so only administrators may list it. Read from the router itself: FastAPI 0.165 keeps included routers
    out of ``app.routes``, so the walk above does not reach it."""
    from huiminbao.api.routes import notifications

    (route,) = notifications.router.routes
    assert isinstance(route, APIRoute) and route.path == "/api/v1/notifications"
    policy = declared_policy(route.dependant.dependencies)
    assert isinstance(policy, Allow) and policy.roles == {Role.ADMIN}
    assert client.get(route.path).status_code == 401
    for role in Role:
        expected = 200 if role is Role.ADMIN else 403
        assert client.get(route.path, headers=sign_in(role.value)).status_code == expected, role
