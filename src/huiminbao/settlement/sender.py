"""A hospital's settlement system as the platform's own tools play it: each record signed with the
hospital's secret exactly as INTERFACES.md says, and posted to ``/api/v1/settlements``.

``hmb replay`` sends a city-year through a running server with it, and the tests stream years through
the API with it; any ``httpx.Client`` will do (FastAPI's TestClient is one).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

PATH = "/api/v1/settlements"


def signed_headers(code: str, secret: str, method: str, path: str, raw: bytes) -> dict[str, str]:
    """The four signature headers of a request sent now with a fresh nonce."""
    stamp, nonce = str(int(time.time())), secrets.token_hex(12)
    message = "\n".join([method, path, stamp, nonce, hashlib.sha256(raw).hexdigest()])
    sig = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {"X-HMB-Hospital": code, "X-HMB-Timestamp": stamp, "X-HMB-Nonce": nonce, "X-HMB-Signature": sig}


@dataclass(frozen=True)
class Sent:
    """One settlement sent: the body, the HTTP status, the answer's bytes, and whether it was a replay."""

    body: dict[str, Any]
    status: int
    content: bytes
    replayed: bool

    @property
    def answer(self) -> dict[str, Any]:
        return json.loads(self.content)

    @property
    def code(self) -> str:
        """``ok``, ``replayed``, or the refusal's error code."""
        if self.status == 200:
            return "replayed" if self.replayed else "ok"
        return str(self.answer.get("code") or self.status)


def send(client: httpx.Client, secret: str, body: dict[str, Any]) -> Sent:
    """Post one settlement as its hospital (``setlinfo.fixmedins_code``)."""
    code = str(body["setlinfo"].get("fixmedins_code") or "")
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = signed_headers(code, secret, "POST", PATH, raw) | {"Content-Type": "application/json"}
    res = client.post(PATH, content=raw, headers=headers)
    return Sent(body, res.status_code, res.content, res.headers.get("X-HMB-Replayed") == "true")


def send_all(
    client: httpx.Client,
    bodies: Sequence[dict[str, Any]],
    secret_of: dict[str, str],
    *,
    senders: int = 8,
    progress: Callable[[int], None] | None = None,
) -> list[Sent]:
    """Send ``bodies`` in order on ``senders`` concurrent connections (so neighbours may overtake each
    other, as they do between hospitals); returns what each got, in the order given."""

    def one(body: dict[str, Any]) -> Sent:
        sent = send(client, secret_of[str(body["setlinfo"].get("fixmedins_code") or "")], body)
        if progress is not None:
            progress(1)
        return sent

    with ThreadPoolExecutor(max_workers=senders) as pool:
        return list(pool.map(one, bodies))


def send_year(
    client: httpx.Client,
    bodies: Sequence[dict[str, Any]],
    secret_of: dict[str, str],
    *,
    senders: int = 8,
    progress: Callable[[int], None] | None = None,
) -> list[Sent]:
    """``send_all``, then once more each refund that overtook its original (refused ``unknown_original``),
    as a hospital's system retries it; returns every send, those first refusals included."""
    sent = send_all(client, bodies, secret_of, senders=senders, progress=progress)
    waiting = [s.body for s in sent if s.code == "unknown_original"]
    return sent + send_all(client, waiting, secret_of, senders=senders)


__all__ = ["PATH", "Sent", "send", "send_all", "send_year", "signed_headers"]
