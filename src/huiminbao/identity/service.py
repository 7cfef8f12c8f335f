"""Users and hospitals: create, authenticate (with lock-out), register and rotate signing secrets.

Functions take a keyword-only session and never commit: the caller owns the transaction, and
every change is written to the audit log in it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from huiminbao.db.base import utcnow
from huiminbao.identity import audit
from huiminbao.identity.models import Hospital, Role, UsedNonce, User
from huiminbao.identity.passwords import check_rules, hash_password, verify_password
from huiminbao.identity.pii import decrypt_text, encrypt_text

MAX_FAILURES = 5  # failed sign-ins in a row before the account is locked
LOCK_FOR = timedelta(minutes=15)
ROTATION_GRACE = timedelta(hours=24)  # the previous hospital secret stays valid this long after rotation
LINKS = {Role.RESIDENT: "psn_no", Role.HOSPITAL: "hospital_code", Role.CLERK: "insurer_code"}
LINKS |= {Role.ADJUSTER: "insurer_code", Role.FINANCE: "insurer_code"}


class IdentityError(ValueError):
    """A refusal with a code and a Chinese message (and the field it concerns)."""

    def __init__(self, code: str, message: str, field: str | None = None):
        self.code, self.field = code, field
        super().__init__(message)


def create_user(
    *,
    session: Session,
    actor: audit.Actor,
    username: str,
    role: Role,
    password: str,
    psn_no: str | None = None,
    hospital_code: str | None = None,
    insurer_code: str | None = None,
) -> User:
    """A user with one role, linked to the person, hospital or insurer the role acts for."""
    username = username.strip()
    if not username or len(username) > 64:
        raise IdentityError("invalid_username", "用户名应为 1 至 64 个字符", "username")
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise IdentityError("username_taken", f"用户名 {username} 已被使用", "username")
    links = {"psn_no": psn_no, "hospital_code": hospital_code, "insurer_code": insurer_code}
    needed = LINKS.get(role)
    if needed is not None and not links[needed]:
        raise IdentityError("link_required", f"角色 {role.value} 须关联 {needed}", needed)
    if hospital_code and session.get(Hospital, hospital_code) is None:
        raise IdentityError("unknown_hospital", f"没有医院 {hospital_code}", "hospital_code")
    try:
        check_rules(password, username)
    except ValueError as exc:
        raise IdentityError("weak_password", str(exc), "password") from exc
    user = User(
        username=username,
        role=role,
        password_hash=hash_password(password),
        **{k: (v if k == needed else None) for k, v in links.items()},
        active=True,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    after = {"username": username, "role": role.value, needed or "link": links.get(needed or "") or None}
    audit.record(session=session, actor=actor, action="user.create", entity="user", entity_id=username, after=after)
    return user


def authenticate(*, session: Session, username: str, password: str, now: datetime | None = None) -> User:
    """The user these credentials belong to; locks the account after repeated failures."""
    now = now or utcnow()
    user = session.scalars(sa.select(User).where(User.username == username.strip()).with_for_update()).first()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        raise IdentityError("account_locked", "连续登录失败次数过多，账户已暂时锁定，请稍后再试")
    if user is None or not user.active or not verify_password(password, user.password_hash if user else None):
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until, user.failed_logins = now + LOCK_FOR, 0
                audit.record(
                    session=session, actor=audit.Actor(user.username, user.role.value), action="user.locked",
                    entity="user", entity_id=user.username,
                )  # fmt: skip
        raise IdentityError("invalid_credentials", "用户名或密码不正确")
    user.failed_logins, user.locked_until = 0, None
    return user


def add_hospital(
    *, session: Session, actor: audit.Actor, key: bytes, code: str, name: str, level: int | None = None
) -> str:
    """Register a hospital; return its signing secret, which is shown once and stored encrypted."""
    code, name = code.strip(), name.strip()
    if not code or len(code) > 30 or not code.isalnum():
        raise IdentityError("invalid_hospital_code", "医院编号（fixmedins_code）应为 1 至 30 位字母或数字", "code")
    if not name:
        raise IdentityError("invalid_hospital_name", "缺少医院名称", "name")
    if level is not None and level not in (1, 2, 3):
        raise IdentityError("invalid_level", "医院级别应为 1、2 或 3", "level")
    if session.get(Hospital, code) is not None:
        raise IdentityError("hospital_exists", f"医院 {code} 已登记", "code")
    secret = secrets.token_hex(32)
    session.add(Hospital(code=code, name=name, level=level, secret_enc=encrypt_text(secret, key)))
    session.flush()
    audit.record(
        session=session, actor=actor, action="hospital.add", entity="hospital", entity_id=code,
        after={"code": code, "name": name, "level": level},
    )  # fmt: skip
    return secret


def rotate_secret(*, session: Session, actor: audit.Actor, key: bytes, code: str) -> str:
    """A new secret for the hospital; the old one stays valid for ``ROTATION_GRACE``."""
    hospital = session.get(Hospital, code, with_for_update=True)
    if hospital is None:
        raise IdentityError("unknown_hospital", f"没有医院 {code}", "code")
    secret = secrets.token_hex(32)
    hospital.previous_secret_enc, hospital.secret_enc = hospital.secret_enc, encrypt_text(secret, key)
    hospital.previous_valid_until = utcnow() + ROTATION_GRACE
    audit.record(session=session, actor=actor, action="hospital.rotate_secret", entity="hospital", entity_id=code)
    return secret


def hospital_secrets(*, session: Session, keys: Sequence[bytes], code: str, now: datetime | None = None) -> list[str]:
    """The secrets a request from this hospital may be signed with now (current, and previous in grace);
    ``keys`` is the encryption keyring (current first)."""
    hospital = session.get(Hospital, code)
    if hospital is None:
        return []
    out = [decrypt_text(hospital.secret_enc, keys)]
    grace = hospital.previous_valid_until
    if hospital.previous_secret_enc is not None and grace is not None and grace > (now or utcnow()):
        out.append(decrypt_text(hospital.previous_secret_enc, keys))
    return out


NONCE_WINDOW = timedelta(minutes=10)  # INTERFACES.md: a nonce seen within 10 minutes is refused
NONCE_REUSED = "随机串在 10 分钟内已使用过（疑似重放）"
PURGE_EVERY = 60.0  # seconds between purges of expired nonces, per process
_purged_at = 0.0


def use_nonces(*, session: Session, nonces: Sequence[tuple[str, str]], now: datetime | None = None) -> list[bool]:
    """Record each (hospital, nonce) as used now; False for one seen within the window (or twice in
    ``nonces``). Rows past the window are purged about once a minute; until then they count as unseen."""
    global _purged_at
    now = now or utcnow()
    cutoff = now - NONCE_WINDOW
    if time.monotonic() - _purged_at > PURGE_EVERY:
        _purged_at = time.monotonic()
        session.execute(sa.delete(UsedNonce).where(UsedNonce.seen_at < cutoff))
    wanted = set(nonces)
    seen = {
        (n.hospital_code, n.nonce): n
        for n in session.scalars(
            sa.select(UsedNonce).where(sa.tuple_(UsedNonce.hospital_code, UsedNonce.nonce).in_(list(wanted)))
        )
    } if wanted else {}  # fmt: skip
    out, fresh = [], set()
    for key in nonces:
        old = seen.get(key)
        ok = key not in fresh and (old is None or old.seen_at < cutoff)
        out.append(ok)
        if ok:
            fresh.add(key)
            if old is None:
                session.add(UsedNonce(hospital_code=key[0], nonce=key[1], seen_at=now))
            else:
                old.seen_at = now
    return out


def reencrypt_people(*, session: Session, keys: Sequence[bytes], after: str, batch: int) -> str | None:
    """Re-encrypt the ID numbers, names and phones of the next ``batch`` insured persons after ``after`` (by psn_no) under
    the current key (``keys[0]``), reading each with whichever key of the ring opens it; returns the
    last psn_no done, or None when there are no more. The caller commits each batch, so a running
    platform (which reads with the whole ring) never meets a row it cannot open."""
    from huiminbao.enrollment.models import InsuredPerson
    from huiminbao.identity.pii import decrypt_certno, encrypt_certno

    people = session.scalars(
        sa.select(InsuredPerson).where(InsuredPerson.psn_no > after).order_by(InsuredPerson.psn_no).limit(batch)
    ).all()
    for p in people:
        p.certno_enc = encrypt_certno(decrypt_certno(p.certno_enc, keys), keys[0])
        if p.name_enc is not None:
            p.name_enc = encrypt_text(decrypt_text(p.name_enc, keys), keys[0])
        if p.phone_enc is not None:
            p.phone_enc = encrypt_text(decrypt_text(p.phone_enc, keys), keys[0])
    return people[-1].psn_no if people else None


def reencrypt_hospitals(*, session: Session, keys: Sequence[bytes]) -> int:
    """Re-encrypt every hospital's signing secrets under the current key; returns how many hospitals."""
    hospitals = session.scalars(sa.select(Hospital)).all()
    for h in hospitals:
        h.secret_enc = encrypt_text(decrypt_text(h.secret_enc, keys), keys[0])
        if h.previous_secret_enc is not None:
            h.previous_secret_enc = encrypt_text(decrypt_text(h.previous_secret_enc, keys), keys[0])
    return len(hospitals)
