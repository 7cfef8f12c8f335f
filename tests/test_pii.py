"""ID numbers at rest: keyed SM3 look-up hashes and SM4-GCM encryption."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes

from huiminbao.identity.pii import (
    PiiError,
    certno_hash,
    decrypt_certno,
    encrypt_certno,
    hash_column,
    load_key,
    redact_certnos,
)

KEY = "00112233445566778899aabbccddeeff"
OTHER = "ffeeddccbbaa99887766554433221100"
NUMBER = "11010519491231002X"


def test_round_trip_with_random_nonce() -> None:
    a, b = encrypt_certno(NUMBER, KEY), encrypt_certno(NUMBER, KEY)
    assert a != b  # equal numbers do not give equal blobs
    assert NUMBER.encode() not in a
    assert decrypt_certno(a, KEY) == decrypt_certno(b, bytes.fromhex(KEY)) == NUMBER
    assert decrypt_certno(encrypt_certno("11010519491231002x", KEY), KEY) == NUMBER


def test_wrong_key_or_tampering_fails() -> None:
    blob = encrypt_certno(NUMBER, KEY)
    with pytest.raises(PiiError):
        decrypt_certno(blob, OTHER)
    tampered = bytearray(blob)
    tampered[15] ^= 1
    with pytest.raises(PiiError):
        decrypt_certno(bytes(tampered), KEY)
    with pytest.raises(PiiError):
        decrypt_certno(b"\x02" + blob[1:], KEY)
    with pytest.raises(PiiError):
        decrypt_certno(b"short", KEY)


def test_hash_stable_and_keyed() -> None:
    h = certno_hash(NUMBER, KEY)
    assert len(h) == 64 and int(h, 16) >= 0
    assert certno_hash(NUMBER, KEY) == h == certno_hash(" 11010519491231002x ", KEY)
    assert certno_hash(NUMBER, OTHER) != h
    assert certno_hash("440524188001010014", KEY) != h
    column = hash_column([NUMBER, "440524188001010014"], KEY).to_pylist()
    assert [d.hex() for d in column] == [h, certno_hash("440524188001010014", KEY)]


def test_columns_are_the_same_in_one_process_and_across_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A roster-sized batch goes to worker processes; the results come back in order."""
    import huiminbao.identity.pii as pii

    texts = [f"{i:018d}" for i in range(3000)]
    one = pii.hash_column(texts, KEY).to_pylist()
    monkeypatch.setattr(pii, "PARALLEL_FROM", 1000)
    assert pii.hash_column(texts, KEY).to_pylist() == one
    blobs = pii.encrypt_column(texts, KEY).to_pylist()
    assert [decrypt_certno(b, KEY) for b in blobs] == texts


def test_hash_is_hmac_sm3() -> None:
    """Recompute HMAC (RFC 2104) by hand over SM3 (64-byte blocks)."""
    key = bytes.fromhex(KEY).ljust(64, b"\0")

    def sm3(data: bytes) -> bytes:
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()

    inner = sm3(bytes(k ^ 0x36 for k in key) + NUMBER.encode())
    assert certno_hash(NUMBER, KEY) == sm3(bytes(k ^ 0x5C for k in key) + inner).hex()
    # SM3 itself: the GB/T 32905 example "abc"
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_keys() -> None:
    assert load_key(KEY) == bytes.fromhex(KEY)
    for bad in ("00112233", "zz" * 16, b"\0" * 15):
        with pytest.raises(PiiError):
            load_key(bad)
    with pytest.raises(PiiError):
        certno_hash(NUMBER, "abcd")
    with pytest.raises(PiiError) as err:
        encrypt_certno("１1010519491231002X", KEY)
    assert "1010519491231002" not in str(err.value)


def test_redact() -> None:
    text = f"claim for {NUMBER} and 440524188001010014, amount 12345678901234567890123"
    out = redact_certnos(text)
    assert NUMBER not in out and "440524188001010014" not in out
    assert "110105********002X" in out and "440524********0014" in out
    assert "12345678901234567890123" in out  # not an ID-shaped token
