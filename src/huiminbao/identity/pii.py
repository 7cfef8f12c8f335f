"""ID numbers at rest: a keyed SM3 hash to look people up, SM4 to read the number back.

The platform never stores or logs an ID number in clear. A look-up column holds
``certno_hash`` (HMAC-SM3: without the key nobody can test guesses, and the space of
ID numbers is small enough to enumerate, so a plain hash would not do). The number
itself, where a person's own page or a regulator's file needs it, is held as
``encrypt_certno`` output: SM4-GCM with a random nonce, so equal numbers encrypt
differently and any tampering fails authentication. SM3/SM4 are the national
algorithms (GB/T 32905, GB/T 32907) Chinese medical-insurance security reviews expect.

Use different keys for hashing and encryption: rotating the encryption key then
needs no rebuild of look-up indexes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from huiminbao.identity.certno import mask_certno

KEY_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
VERSION = b"\x01"  # blob layout: version | nonce | ciphertext | tag

Key = bytes | str


class PiiError(ValueError):
    """A bad key, or a blob that does not decrypt under the key (wrong key, tampered)."""


def load_key(value: Key) -> bytes:
    """A 16-byte SM4/HMAC key from raw bytes or from 32 hex characters (a setting)."""
    if isinstance(value, bytes):
        key = value
    else:
        try:
            key = bytes.fromhex(value.strip())
        except ValueError:
            raise PiiError("key must be 32 hexadecimal characters") from None
    if len(key) != KEY_BYTES:
        raise PiiError(f"key must be {KEY_BYTES} bytes ({2 * KEY_BYTES} hex characters), got {len(key)}")
    return key


def _normalise(certno: str) -> bytes:
    """Trimmed, upper-case X: the same person hashes the same however the X was typed."""
    try:
        return certno.strip().upper().encode("ascii")
    except UnicodeEncodeError:  # its message would quote the value
        raise PiiError("ID number must be ASCII") from None


def certno_hash(certno: str, key: Key) -> str:
    """Keyed SM3 (HMAC-SM3) of an ID number, hex: a stable look-up value that reveals nothing."""
    h = hmac.HMAC(load_key(key), hashes.SM3())
    h.update(_normalise(certno))
    return h.finalize().hex()


def certno_hashes(certnos: Iterable[str], key: Key) -> list[str]:
    """``certno_hash`` for many numbers, keying the HMAC once (roster imports hold millions)."""
    base = hmac.HMAC(load_key(key), hashes.SM3())
    out = []
    for c in certnos:
        h = base.copy()
        h.update(_normalise(c))
        out.append(h.finalize().hex())
    return out


def keyed_hashes(texts: Iterable[str], key: Key) -> list[str]:
    """HMAC-SM3 of many texts, hex: a change detector over personal fields that reveals none of them."""
    base = hmac.HMAC(load_key(key), hashes.SM3())
    out = []
    for t in texts:
        h = base.copy()
        h.update(t.encode("utf-8"))
        out.append(h.finalize().hex())
    return out


PARALLEL_FROM = 100_000  # below this many values a second process costs more than it saves


def _encrypt_chunk(texts: list[str], key: bytes) -> list[bytes]:
    algorithm = algorithms.SM4(key)
    return [_encrypt(t.encode("utf-8"), algorithm) for t in texts]


def encrypt_texts(texts: Sequence[str], key: Key) -> list[bytes]:
    """``encrypt_text`` for many values (a roster import encrypts millions). SM4-GCM needs a fresh cipher
    context per value, which costs about 5 µs in Python; large batches from a single-threaded process (the
    CLI) are split across the machine's cores by forked workers. In a process with other threads (the
    server) forking could copy a lock some other thread holds, so there it stays in one process."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    raw = load_key(key)
    texts = list(texts)
    workers = min(os.cpu_count() or 1, 8)
    if len(texts) < PARALLEL_FROM or workers < 2 or threading.active_count() > 1:
        return _encrypt_chunk(texts, raw)

    size = -(-len(texts) // workers)
    chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        parts = pool.map(_encrypt_chunk, chunks, [raw] * len(chunks))
        return [blob for part in parts for blob in part]


def _encrypt(data: bytes, key: Key | algorithms.SM4) -> bytes:
    """SM4-GCM encryption with a fresh random nonce; the blob carries version and nonce."""
    nonce = os.urandom(NONCE_BYTES)
    algorithm = key if isinstance(key, algorithms.SM4) else algorithms.SM4(load_key(key))
    enc = Cipher(algorithm, modes.GCM(nonce)).encryptor()
    body = enc.update(data) + enc.finalize()
    return VERSION + nonce + body + enc.tag


def _decrypt(blob: bytes, keys: Key | Sequence[Key]) -> bytes:
    """Decrypt under the first key that authenticates: during a key rotation a blob may still be
    under the previous key (the keyring lists the current key first, then older ones)."""
    if len(blob) < 1 + NONCE_BYTES + TAG_BYTES or blob[:1] != VERSION:
        raise PiiError("not an encrypted value")
    nonce = blob[1 : 1 + NONCE_BYTES]
    body, tag = blob[1 + NONCE_BYTES : -TAG_BYTES], blob[-TAG_BYTES:]
    for key in [keys] if isinstance(keys, bytes | str) else keys:
        dec = Cipher(algorithms.SM4(load_key(key)), modes.GCM(nonce, tag)).decryptor()
        try:
            return dec.update(body) + dec.finalize()
        except InvalidTag:
            continue
    raise PiiError("value does not decrypt: wrong key or altered data")


def encrypt_certno(certno: str, key: Key) -> bytes:
    """An ID number, normalised, SM4-GCM encrypted."""
    return _encrypt(_normalise(certno), key)


def decrypt_certno(blob: bytes, key: Key | Sequence[Key]) -> str:
    """Decrypt ``encrypt_certno`` output; a wrong key or a changed byte raises ``PiiError``."""
    return _decrypt(blob, key).decode("ascii")


def encrypt_text(text: str, key: Key) -> bytes:
    """Any other secret or personal text (a name, a hospital's signing secret), SM4-GCM encrypted."""
    return _encrypt(text.encode("utf-8"), key)


def decrypt_text(blob: bytes, key: Key | Sequence[Key]) -> str:
    return _decrypt(blob, key).decode("utf-8")


_CERTNO_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def redact_certnos(text: str) -> str:
    """Mask anything shaped like an ID number in free text (log lines, error messages)."""
    return _CERTNO_IN_TEXT.sub(lambda m: mask_certno(m.group(0)), text)


__all__ = [
    "PiiError",
    "certno_hash",
    "certno_hashes",
    "decrypt_certno",
    "decrypt_text",
    "encrypt_certno",
    "encrypt_text",
    "encrypt_texts",
    "keyed_hashes",
    "load_key",
    "redact_certnos",
]
