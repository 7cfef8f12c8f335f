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
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

import numpy as np
import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from huiminbao.identity.certno import mask_certno

KEY_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
VERSION = b"\x01"  # blob layout: version | nonce | ciphertext | tag

Key = bytes | str
T = TypeVar("T")


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


PARALLEL_FROM = 100_000  # below this many values a second process costs more than it saves


def _fan_out(work: Callable[[list[str], bytes], list[T]], items: Sequence[str], key: bytes) -> list[T]:
    """``work(items, key)``, split across the machine's cores when the batch is large (a roster import
    encrypts millions of values, at about 5 µs each in Python) and the process is single-threaded
    (the CLI). In a process with other threads (the server) forking could copy a lock another thread
    holds, so there the work stays in this process."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    items = list(items)
    workers = min(os.cpu_count() or 1, 8)
    if len(items) < PARALLEL_FROM or workers < 2 or threading.active_count() > 1:
        return work(items, key)
    size = -(-len(items) // workers)
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        parts = pool.map(work, chunks, [key] * len(chunks))
        return [value for part in parts for value in part]


def _hash_chunk(texts: list[str], key: bytes) -> list[bytes]:
    base = hmac.HMAC(key, hashes.SM3())
    out = []
    for t in texts:
        h = base.copy()
        h.update(t.encode("utf-8"))
        out.append(h.finalize())
    return out


def _packed(
    work: Callable[[list[str], bytes], list[bytes]],
) -> Callable[[list[str], bytes], list[tuple[bytes, list[int]]]]:
    return partial(_pack, work)


def _pack(
    work: Callable[[list[str], bytes], list[bytes]], texts: list[str], key: bytes
) -> list[tuple[bytes, list[int]]]:
    """A chunk's results as one buffer and their lengths: cheap to send back from a worker."""
    values = work(texts, key)
    return [(b"".join(values), [len(v) for v in values])]


def _column(parts: list[tuple[bytes, list[int]]]) -> pa.LargeBinaryArray:
    data = b"".join(buf for buf, _ in parts)
    lengths = np.fromiter((n for _, ns in parts for n in ns), dtype=np.int64)
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), lengths.size, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def hash_column(texts: Sequence[str], key: Key) -> pa.LargeBinaryArray:
    """HMAC-SM3 of many texts (32-byte digests) as an Arrow column: look-up hashes of ID numbers, or a
    change detector over a person's roster fields that reveals none of them. Built from the workers'
    packed buffers, without a Python object per value (a roster holds millions)."""
    return _column(_fan_out(_packed(_hash_chunk), texts, load_key(key)))


def _encrypt_chunk(texts: list[str], key: bytes) -> list[bytes]:
    algorithm = algorithms.SM4(key)
    return [_encrypt(t.encode("utf-8"), algorithm) for t in texts]


def encrypt_column(texts: Sequence[str], key: Key) -> pa.LargeBinaryArray:
    """``encrypt_text`` over many values as an Arrow column. SM4-GCM needs a fresh cipher context per
    value (about 5 µs in Python), so this is the slow part of a roster import and worth both cores."""
    return _column(_fan_out(_packed(_encrypt_chunk), texts, load_key(key)))


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
    "decrypt_certno",
    "decrypt_text",
    "encrypt_certno",
    "encrypt_column",
    "encrypt_text",
    "hash_column",
    "load_key",
    "redact_certnos",
]
