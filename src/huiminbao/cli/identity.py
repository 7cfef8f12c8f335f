"""``hmb users``, ``hmb hospital``, ``hmb audit``: the first administrator, hospitals and their secrets,
and the audit log's integrity, from the operator's shell. Every change is audited as the CLI."""

from __future__ import annotations

import json
import secrets
import sys

import typer

from huiminbao.db.session import Database
from huiminbao.identity import audit
from huiminbao.identity.models import Role
from huiminbao.identity.service import (
    IdentityError,
    add_hospital,
    create_user,
    reencrypt_hospitals,
    reencrypt_people,
    rotate_secret,
)
from huiminbao.settings import get_settings

users = typer.Typer(help="用户 (users).", no_args_is_help=True)
hospital = typer.Typer(help="医院及其签名密钥 (hospitals and their signing secrets).", no_args_is_help=True)
audit_app = typer.Typer(help="审计日志 (the audit log).", no_args_is_help=True)
keys = typer.Typer(help="个人信息加密密钥 (encryption keys for personal data).", no_args_is_help=True)


def _db() -> Database:
    return Database.from_url(get_settings().database_url)


def _fail(exc: IdentityError) -> typer.Exit:
    typer.echo(f"{exc.field or '输入'}：{exc}（{exc.code}）", err=True)
    return typer.Exit(2)


@users.command("create")
def create(
    username: str = typer.Option(..., help="user name"),
    role: Role = typer.Option(..., help="one role: " + ", ".join(r.value for r in Role)),
    psn_no: str | None = typer.Option(None, "--psn-no", help="a resident's person number"),
    hospital_code: str | None = typer.Option(None, "--hospital", help="a hospital user's fixmedins_code"),
    insurer: str | None = typer.Option(
        None, "--insurer", help="the insurer a clerk, adjuster or finance user acts for"
    ),
) -> None:
    """Create a user; the password is read from standard input (never from the command line)."""
    password = sys.stdin.readline().rstrip("\n")
    db = _db()
    try:
        with db.session() as s:
            create_user(
                session=s, actor=audit.CLI, username=username, role=role, password=password,
                psn_no=psn_no, hospital_code=hospital_code, insurer_code=insurer,
            )  # fmt: skip
    except IdentityError as exc:
        raise _fail(exc) from exc
    finally:
        db.dispose()
    typer.echo(f"user {username} ({role.value}) created")


@hospital.command("add")
def add(
    code: str = typer.Option(..., help="fixmedins_code"),
    name: str = typer.Option(..., help="hospital name"),
    level: int | None = typer.Option(None, help="1, 2 or 3"),
    as_json: bool = typer.Option(False, "--json", help='print {"code", "secret"}'),
) -> None:
    """Register a hospital; prints its signing secret once (it is stored encrypted)."""
    settings = get_settings()
    db = _db()
    try:
        with db.session() as s:
            secret = add_hospital(
                session=s, actor=audit.CLI, key=settings.pii_key_bytes, code=code, name=name, level=level
            )
    except IdentityError as exc:
        raise _fail(exc) from exc
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"code": code, "secret": secret}))
    else:
        typer.echo(f"hospital {code} registered; signing secret (shown once): {secret}")


@hospital.command("rotate")
def rotate(code: str = typer.Option(..., help="fixmedins_code"), as_json: bool = typer.Option(False, "--json")) -> None:
    """A new signing secret; the previous one stays valid for 24 hours."""
    db = _db()
    try:
        with db.session() as s:
            secret = rotate_secret(session=s, actor=audit.CLI, key=get_settings().pii_key_bytes, code=code)
    except IdentityError as exc:
        raise _fail(exc) from exc
    finally:
        db.dispose()
    typer.echo(json.dumps({"code": code, "secret": secret}) if as_json else f"new signing secret for {code}: {secret}")


@audit_app.command("verify")
def verify(as_json: bool = typer.Option(False, "--json")) -> None:
    """Seal the entries not chained yet, then check the audit log's hash chain; exit 0 when intact, 1
    naming the first bad row."""
    db = _db()
    try:
        audit.seal_pending(db)
        with db.session() as s:
            rows, bad, problem = audit.verify(session=s)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"rows": rows, "intact": bad is None, "first_bad_row": bad, "problem": problem}))
    elif bad is None:
        typer.echo(f"audit log intact: {rows} rows")
    else:
        typer.echo(f"audit log broken at row {bad}: {problem}", err=True)
    raise typer.Exit(0 if bad is None else 1)


@keys.command("new")
def new_key() -> None:
    """Print a fresh SM4 key (32 hex characters) to put in HMB_PII_KEY."""
    typer.echo(secrets.token_hex(16))


@keys.command("rotate")
def rotate_keys(batch: int = typer.Option(1000, min=1, help="rows per transaction")) -> None:
    """Re-encrypt every stored secret under HMB_PII_KEY, reading with HMB_PII_KEY and HMB_PII_OLD_KEYS.

    Without downtime: 1) give the servers the new HMB_PII_KEY and the old one in HMB_PII_OLD_KEYS
    (they encrypt with the new key and read with both); 2) run this; 3) drop the old key."""
    keyring = get_settings().pii_keys
    db = _db()
    last: str | None = ""
    try:
        while last is not None:
            with db.session() as s:
                last = reencrypt_people(session=s, keys=keyring, after=last, batch=batch)
        with db.session() as s:
            hospitals = reencrypt_hospitals(session=s, keys=keyring)
            after = {"batch": batch, "hospitals": hospitals}
            audit.record(session=s, actor=audit.CLI, action="keys.rotate", entity="keys", entity_id="pii", after=after)
    finally:
        db.dispose()
    typer.echo(
        f"re-encrypted under the current key: every insured person's ID number, name and phone, {hospitals} hospitals"
    )
