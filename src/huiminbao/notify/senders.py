"""Senders: how a notification leaves the platform, one class per channel, chosen by name.

A sender gets one ``Message`` and either returns (sent), raises ``TransientSendError`` (try again
later: a timeout, a gateway's 5xx or 429) or ``PermanentSendError`` (trying again cannot help: no phone
number on file, a 4xx refusal). Delivery is at least once: a worker that dies after a gateway accepted a
message but before the outbox row was marked sent sends it again once its lease expires. So every
sender passes the message id as an idempotency key (``hmb-<id>``): the gateways drop the repeat, and
``LogSender`` skips ids it has already written. Together that is exactly-once as the recipient sees it.

The default is ``LogSender`` (a JSON-lines file), so a development or demo platform needs no gateway;
``SmsSender`` and ``WeChatSender`` post JSON to an HTTP gateway named in the settings. A deployment
with another channel calls ``register(name, factory)`` and sets ``HMB_NOTIFY_SENDER`` to that name.
Nothing here logs a phone number: the structured log carries the message id, event and channel only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, ClassVar, Protocol

import httpx
import structlog

from huiminbao.identity.phone import redact_phones
from huiminbao.identity.pii import redact_certnos
from huiminbao.settings import Settings

log = structlog.get_logger(__name__)


class TransientSendError(Exception):
    """The channel could not take the message now; the worker tries again later."""


class PermanentSendError(Exception):
    """The channel refused the message for good; the worker marks it failed."""


@dataclass(frozen=True)
class Message:
    """One outbox row as a sender sees it. ``phone`` is the recipient's number in clear, looked up and
    decrypted just before sending and only for senders that need it; it is never stored or logged."""

    id: int
    event: str
    channel: str
    psn_no: str | None
    subject: str
    body: str
    phone: str | None = None

    @property
    def idempotency_key(self) -> str:
        return f"hmb-{self.id}"


class Sender(Protocol):
    """A channel. ``needs_phone``: the worker decrypts the recipient's phone for it."""

    name: str
    needs_phone: bool

    def send(self, message: Message) -> None: ...


def redact(text: str) -> str:
    """Mask ID numbers and phone numbers in free text (message bodies, gateway errors)."""
    return redact_phones(redact_certnos(text))


class LogSender:
    """Appends one JSON line per message to a file; a message id already in the file is not written
    again (the resend after a crash). The file is locked while it is read and appended, so workers in
    other processes see each other's lines; each reads only what was added since its last look."""

    name = "log"
    needs_phone = False

    def __init__(self, path: Path):
        self.path = path
        self._seen: set[int] = set()
        self._offset = 0
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        line = {
            "id": message.id,
            "event": message.event,
            "channel": message.channel,
            "psn_no": message.psn_no,
            "subject": redact(message.subject),
            "body": redact(message.body),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("a+", encoding="utf-8") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                if self._catch_up(f):
                    f.write("\n")
                if message.id in self._seen:
                    log.info("notify.duplicate_skipped", message_id=message.id, channel=self.name)
                    return
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
                f.flush()
                self._offset = f.tell()
                self._seen.add(message.id)
        except OSError as exc:
            raise TransientSendError(f"notification file: {exc.strerror}") from None
        log.info("notify.sent", message_id=message.id, kind=message.event, channel=self.name)

    def _catch_up(self, f: IO[str]) -> bool:
        """Read the ids of lines written since the last look (by this or another worker); true when
        the file ends in the middle of a line (a writer died while writing), which is then closed."""
        f.seek(self._offset)
        torn = False
        while raw := f.readline():
            torn = not raw.endswith("\n")
            with contextlib.suppress(ValueError, KeyError, TypeError):  # a damaged line names no id
                self._seen.add(int(json.loads(raw)["id"]))
        self._offset = f.tell()
        return torn


class HttpSender:
    """Posts a message as JSON to a gateway with a bearer credential and an ``Idempotency-Key``
    header. 408, 429 and 5xx answers and network errors are transient; any other 4xx is permanent."""

    name: ClassVar[str]
    needs_phone: ClassVar[bool]

    def __init__(self, url: str, token: str, timeout: float, client: httpx.Client | None = None):
        if not url:
            raise ValueError(f"HMB_NOTIFY_{self.name.upper()}_URL is not set")
        self.url, self.token = url, token
        self.client = client or httpx.Client(timeout=timeout)

    def payload(self, message: Message) -> dict[str, object]:
        raise NotImplementedError

    def send(self, message: Message) -> None:
        headers = {"Idempotency-Key": message.idempotency_key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            res = self.client.post(self.url, json=self.payload(message), headers=headers)
        except httpx.TransportError as exc:
            raise TransientSendError(f"{self.name} gateway: {type(exc).__name__}") from None
        if res.status_code in (408, 429) or res.status_code >= 500:
            raise TransientSendError(f"{self.name} gateway answered {res.status_code}")
        if res.status_code >= 400:
            raise PermanentSendError(f"{self.name} gateway refused: {res.status_code} {redact(res.text[:200])}")
        log.info("notify.sent", message_id=message.id, kind=message.event, channel=self.name)


class SmsSender(HttpSender):
    """A text message to the recipient's mobile phone; without one on file it cannot be sent."""

    name = "sms"
    needs_phone = True

    def payload(self, message: Message) -> dict[str, object]:
        if not message.phone:
            raise PermanentSendError("no mobile phone on file for the recipient")
        return {"id": message.idempotency_key, "phone": message.phone, "text": f"{message.subject}：{message.body}"}


class WeChatSender(HttpSender):
    """A WeChat message; the gateway maps the person number to the follower it is bound to."""

    name = "wechat"
    needs_phone = False

    def payload(self, message: Message) -> dict[str, object]:
        if not message.psn_no:
            raise PermanentSendError("a WeChat message needs the recipient's person number")
        return {
            "id": message.idempotency_key,
            "psn_no": message.psn_no,
            "title": message.subject,
            "content": message.body,
        }


Factory = Callable[[Settings], Sender]

SENDERS: dict[str, Factory] = {
    "log": lambda s: LogSender(s.notify_log_path),
    "sms": lambda s: SmsSender(s.notify_sms_url, s.notify_sms_token, s.notify_timeout),
    "wechat": lambda s: WeChatSender(s.notify_wechat_url, s.notify_wechat_token, s.notify_timeout),
}


def register(name: str, factory: Factory) -> None:
    """Offer another channel (a deployment's own gateway) under ``name``, replacing one of that name."""
    SENDERS[name] = factory


class UnknownChannel(LookupError):
    """No sender is registered under the channel's name."""


def senders(settings: Settings) -> Callable[[str], Sender]:
    """A look-up from channel name to its sender, each built once from ``settings`` when first needed."""
    built: dict[str, Sender] = {}
    lock = threading.Lock()

    def sender_for(channel: str) -> Sender:
        with lock:
            if channel not in built:
                factory = SENDERS.get(channel)
                if factory is None:
                    raise UnknownChannel(channel)
                built[channel] = factory(settings)
            return built[channel]

    return sender_for


__all__ = [
    "SENDERS",
    "LogSender",
    "Message",
    "PermanentSendError",
    "Sender",
    "SmsSender",
    "TransientSendError",
    "UnknownChannel",
    "WeChatSender",
    "redact",
    "register",
    "senders",
]
