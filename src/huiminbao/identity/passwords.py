"""Passwords: argon2 hashes (pwdlib) and the rules a new password must meet."""

from __future__ import annotations

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_LENGTH = 10
_HASHER = PasswordHash((Argon2Hasher(),))
# a constant hash to verify against when the user does not exist, so a miss costs the same time
_DUMMY = _HASHER.hash("not a password of anyone")


class PasswordRuleError(ValueError):
    """A password that does not meet the rules; the message says which, in Chinese."""


def check_rules(password: str, username: str = "") -> None:
    """At least 10 characters, letters and digits, not containing the user name."""
    if len(password) < MIN_LENGTH:
        raise PasswordRuleError(f"密码至少 {MIN_LENGTH} 个字符")
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        raise PasswordRuleError("密码须同时包含字母和数字")
    if username and username.lower() in password.lower():
        raise PasswordRuleError("密码不能包含用户名")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    """True when the password matches; always spends one argon2 verification."""
    if hashed is None:
        _HASHER.verify(password, _DUMMY)
        return False
    return _HASHER.verify(password, hashed)
