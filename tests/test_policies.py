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
    """Every API route and page of the app, also inside included routers (FastAPI 0.165 keeps those as
    one entry each in ``app.routes``; walking only the top level would check nothing)."""

    def walk(items: list[Any]) -> list[APIRoute]:
        out: list[APIRoute] = []
        for r in items:
            if isinstance(r, APIRoute):
                out.append(r)
            elif (inner := getattr(r, "original_router", None)) is not None:
                out += walk(list(inner.routes))
        return out

    found = walk(list(client.app.routes))
    assert len(found) > 100, "the walk found too few routes: has FastAPI changed how it keeps them?"
    return found


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
    wrong: list[str] = []
    for route in sorted(routes(client), key=lambda r: r.path == "/logout"):  # signing out ends the session: last
        policy = declared_policy(route.dependant.dependencies)
        for method in sorted(route.methods - {"HEAD"}):
            res = client.request(method, concrete(route.path), headers=headers, follow_redirects=False)
            if not answers_as_declared(policy, role, res):
                wrong.append(f"{method} {route.path} as {role}: {res.status_code}")
    assert not wrong, "\n".join(wrong)


def answers_as_declared(policy: Any, role: str | None, res: Any) -> bool:
    """401 without credentials, 403 for a role the policy does not allow, neither for one it allows
    (a public route that checks its own credentials, such as the gateway's signed callback, may still
    answer 401 to a request without them); never a 500."""
    code = res.status_code
    if code >= 500:
        return False
    if isinstance(policy, Public):
        return code != 403
    if isinstance(policy, HospitalSigned):
        return code == 401  # a bearer token is no signature
    if isinstance(policy, SignedIn):
        if role is None:
            return code == 303 and res.headers["location"].startswith("/login")
        return code not in (401, 403) if Role(role) in policy.roles else code == 403
    if isinstance(policy, Allow):
        if role is None:
            return code == 401
        return code not in (401, 403) if Role(role) in policy.roles else code == 403
    return False


def test_the_notifications_outbox_is_for_administrators_only(client: TestClient, sign_in: Any) -> None:
    """Staff see the outbox through ``GET /api/v1/notifications``; it names the persons messages are for,
    so only administrators may list it."""
    from huiminbao.api.routes import notifications

    (route,) = notifications.router.routes
    assert isinstance(route, APIRoute) and route.path == "/api/v1/notifications"
    policy = declared_policy(route.dependant.dependencies)
    assert isinstance(policy, Allow) and policy.roles == {Role.ADMIN}
    assert client.get(route.path).status_code == 401
    for role in Role:
        expected = 200 if role is Role.ADMIN else 403
        assert client.get(route.path, headers=sign_in(role.value)).status_code == expected, role
