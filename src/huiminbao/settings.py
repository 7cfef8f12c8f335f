"""Runtime settings, read once from the environment (prefix ``HMB_``) or a ``.env`` file.

Everything that differs between a developer's laptop, CI and a city's deployment lives
here, so no module reads ``os.environ`` itself. Defaults are for local development: a
SQLite file under ``./var``, loopback only, and development keys that are generated
once, kept in ``./var/dev-keys.json`` (so demo data encrypted by one command can still
be read by the next) and announced with a warning, because they must never reach
production.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BEIJING = timezone(timedelta(hours=8))  # the platform's business day is Beijing's (INTERFACES.md)
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
PII_KEY_BYTES = 16  # SM4 has a 128-bit key


class DevKeyWarning(UserWarning):
    """A secret was generated for development because none was configured."""


def sqlite_url(path: Path) -> str:
    """A SQLAlchemy URL for a SQLite file, absolute so that a later ``cd`` changes nothing."""
    return f"sqlite:///{path.resolve()}"


def _dev_keys(var_dir: Path) -> dict[str, str]:
    """Read, or create once, the development keys file (mode 0600); fill in any key it lacks."""
    path = var_dir / "dev-keys.json"
    keys: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    fresh = {
        "secret_key": lambda: secrets.token_urlsafe(32),
        "pii_key": lambda: secrets.token_hex(PII_KEY_BYTES),
        "pii_hash_key": lambda: secrets.token_hex(PII_KEY_BYTES),
        "payment_secret": lambda: secrets.token_hex(32),
        "actuarial_key": lambda: secrets.token_hex(PII_KEY_BYTES),
    }
    missing = {name: make() for name, make in fresh.items() if name not in keys}
    if missing:
        keys.update(missing)
        var_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(keys, fh)
        tmp.replace(path)
    return keys


class Settings(BaseSettings):
    """The platform's configuration; every field can be set as ``HMB_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="HMB_", env_file=".env", extra="ignore")

    var_dir: Path = Field(default=Path("var"), description="working folder for the dev database and keys")
    database_url: str = Field(default="", description="SQLAlchemy URL; default: SQLite in var_dir")
    db_pool: int = Field(
        default=20,
        ge=1,
        le=500,
        description="database connections each server process keeps open (and as many more at peaks)",
    )
    inflight: int = Field(
        default=4, ge=1, le=1000, description="requests one server process works on at once; the rest queue"
    )
    settle_batch: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="one-stop settlements one server process settles together at most (one engine call)",
    )
    audit_seal_seconds: float = Field(
        default=1.0, ge=0.05, le=60, description="how often the server chains the audit entries requests wrote"
    )
    plans_dir: Path | None = Field(default=None, description="extra folder of plan files, read first")
    documents_dir: Path | None = Field(
        default=None,
        description="where claim documents are kept, each named by its SHA-256; default: var_dir/documents",
    )
    document_max_bytes: int = Field(
        default=10 << 20,
        ge=64 << 10,
        le=100 << 20,
        description="largest claim document accepted, in bytes (a phone photo or a scanned PDF fits in 10 MiB)",
    )
    documents_per_claim: int = Field(default=30, ge=1, le=500, description="documents one claim may hold at most")
    calendar_file: Path | None = Field(
        default=None,
        description="override table of holidays and make-up working days for years chinesecalendar lacks;"
        " default: the one shipped in huiminbao/calendar/data/overrides.yaml",
    )
    claim_days: int = Field(
        default=7,
        ge=1,
        le=60,
        description="working days to pay an offline claim when the plan file gives no claim_days"
        " (聊医保发〔2023〕54号: 于7个工作日内完成受理赔付)",
    )
    claim_lock_minutes: int = Field(
        default=30, ge=1, le=480, description="how long an adjuster holds a claim taken for review"
    )
    complaint_working_days: int = Field(
        default=5, ge=1, le=60, description="statutory working days to answer a complaint (投诉) after it is opened"
    )
    inquiry_working_days: int = Field(
        default=2, ge=1, le=60, description="statutory working days to answer an inquiry (咨询) after it is opened"
    )
    complaint_escalate_working_days: int = Field(
        default=3,
        ge=1,
        le=60,
        description="statutory working days the next level has to answer a case escalated to it (its new due date)",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: LogLevel = "INFO"
    log_json: bool | None = Field(default=None, description="JSON logs; default: JSON unless on a terminal")
    secret_key: str = Field(default="", description="signs sessions and tokens")
    pii_key: str = Field(default="", description="hex SM4 key that encrypts ID numbers at rest")
    pii_hash_key: str = Field(default="", description="hex HMAC-SM3 key for ID number look-up hashes")
    actuarial_key: str = Field(
        default="",
        description="hex HMAC-SM3 key for the pseudonymous person keys of actuarial extracts (its own key:"
        " holding it links extracts to nobody, and rotating it only changes the pseudonyms)",
    )
    pii_old_keys: str = Field(default="", description="comma-separated hex SM4 keys still accepted for decryption")
    dev_keys: bool = Field(default=False, description="set when the keys above were generated for dev")
    payment_secret: str = Field(default="", description="signs the payment gateway's callbacks (HMAC-SHA256)")
    payment_simulator: bool = Field(
        default=False, description="offer the simulated payment gateway (demo and tests; never in production)"
    )
    notify_sender: str = Field(
        default="log",
        pattern=r"^[a-z][a-z0-9_]{0,19}$",
        description="channel new notifications go out on: log (a JSON-lines file, the default), sms, wechat,"
        " or a sender a deployment registers (huiminbao.notify.senders.register)",
    )
    notify_log_file: Path | None = Field(
        default=None, description="file the log sender appends to; default: var_dir/notifications.jsonl"
    )
    notify_sms_url: str = Field(default="", description="the SMS gateway's endpoint (POST, JSON)")
    notify_sms_token: str = Field(default="", description="bearer credential for the SMS gateway")
    notify_wechat_url: str = Field(default="", description="the WeChat message gateway's endpoint (POST, JSON)")
    notify_wechat_token: str = Field(default="", description="bearer credential for the WeChat gateway")
    notify_timeout: float = Field(default=10.0, gt=0, le=120, description="seconds one gateway call may take")
    notify_max_attempts: int = Field(
        default=8, ge=1, le=100, description="attempts at one notification before it is marked failed"
    )
    notify_backoff_seconds: float = Field(
        default=30.0, gt=0, le=86400, description="wait before the first retry; doubles each attempt (jittered)"
    )
    notify_backoff_max_seconds: float = Field(
        default=6 * 3600.0, gt=0, le=7 * 86400, description="longest wait between two attempts"
    )
    notify_lease_seconds: float = Field(
        default=300.0,
        ge=1,
        le=86400,
        description="how long a delivery worker holds the messages it took; after that another may take them",
    )
    today: date | None = Field(
        default=None,
        description="the platform's date for demos, tests and replays (windows, eligibility, claim clocks,"
        " audit dates); unset: the real date. Signatures, tokens and rate limits keep the real clock",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("pii_key", "pii_hash_key", "actuarial_key")
    @classmethod
    def _hex_key(cls, value: str, info: ValidationInfo) -> str:
        name = f"HMB_{str(info.field_name).upper()}"
        if value:
            try:
                raw = bytes.fromhex(value)
            except ValueError as exc:
                raise ValueError(f"{name} must be hex") from exc
            if len(raw) != PII_KEY_BYTES:
                raise ValueError(f"{name} must be {PII_KEY_BYTES} bytes ({2 * PII_KEY_BYTES} hex digits)")
        return value.lower()

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = sqlite_url(self.var_dir / "huiminbao.db")
        if self.documents_dir is None:
            self.documents_dir = (self.var_dir / "documents").resolve()  # absolute, like the database's URL
        if not (self.secret_key and self.pii_key and self.pii_hash_key and self.payment_secret and self.actuarial_key):
            keys = _dev_keys(self.var_dir)
            self.payment_secret = self.payment_secret or keys["payment_secret"]
            self.secret_key = self.secret_key or keys["secret_key"]
            self.pii_key = self.pii_key or keys["pii_key"]
            self.pii_hash_key = self.pii_hash_key or keys["pii_hash_key"]
            self.actuarial_key = self.actuarial_key or keys["actuarial_key"]
            self.dev_keys = True
        return self

    def platform_date(self) -> date:
        """``today`` when set (a demo or a replay of a past year), else the real date."""
        return self.today or date.today()

    def platform_now(self) -> datetime:
        """When a business event happens now (a payment, a refund): ``at_day`` of the platform's date."""
        return at_day(self.platform_date())

    @property
    def pii_key_bytes(self) -> bytes:
        """The SM4 encryption key as 16 raw bytes."""
        return bytes.fromhex(self.pii_key)

    @property
    def pii_keys(self) -> tuple[bytes, ...]:
        """The keyring: the current SM4 key (which encrypts), then older ones (which only decrypt)."""
        old = [bytes.fromhex(k.strip()) for k in self.pii_old_keys.split(",") if k.strip()]
        return (self.pii_key_bytes, *old)

    @property
    def pii_hash_key_bytes(self) -> bytes:
        """The HMAC-SM3 look-up key as 16 raw bytes (kept apart so encryption keys can rotate)."""
        return bytes.fromhex(self.pii_hash_key)

    @property
    def actuarial_key_bytes(self) -> bytes:
        """The HMAC-SM3 key of actuarial pseudonyms as 16 raw bytes (not the look-up key: an extract's
        person keys must not be computable by whoever can compute look-up hashes, nor the reverse)."""
        return bytes.fromhex(self.actuarial_key)

    @property
    def notify_log_path(self) -> Path:
        """Where the log sender writes: ``notify_log_file``, or ``notifications.jsonl`` in the var folder."""
        return self.notify_log_file or self.var_dir / "notifications.jsonl"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing the env."""
    settings = Settings()
    if settings.dev_keys:
        warnings.warn(
            f"HMB_SECRET_KEY/HMB_PII_KEY/HMB_PII_HASH_KEY/HMB_ACTUARIAL_KEY not set: using development keys from {settings.var_dir}/dev-keys.json;"
            " never use these in production",
            DevKeyWarning,
            stacklevel=2,
        )
    return settings


def today() -> date:
    """The platform's date: ``HMB_TODAY`` when set (a demo or a replay of a past year), else the real one."""
    return get_settings().platform_date()


def at_day(day: date) -> datetime:
    """The time to stamp a business event of the platform's ``day`` with (an order paid, a reply sent):
    the real now when ``day`` is today (in Beijing or in UTC), else ``day`` at the real time of day in
    Beijing, so that a demo or a replayed past year (``HMB_TODAY``) puts its events on its own days and
    the monthly figures find them there. Records of what the system did (audit rows, ``created_at``,
    locks, tokens) keep the real clock."""
    now = datetime.now(UTC)
    if day in (now.date(), now.astimezone(BEIJING).date()):
        return now
    return datetime.combine(day, now.astimezone(BEIJING).timetz()).astimezone(UTC)


def platform_now() -> datetime:
    """``at_day`` of the platform's date: the process-wide settings' (``HMB_TODAY``) or the real one."""
    return get_settings().platform_now()
