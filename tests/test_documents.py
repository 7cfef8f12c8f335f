"""Claim documents: judged by content (not by name), whole, within the size limit, and kept under their
SHA-256 so that storing twice writes nothing and a changed file is noticed on read."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import threading
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from reportlab.pdfgen import canvas

from huiminbao.claims.documents import (
    NOT_A_DOCUMENT,
    PNG_SIGNATURE,
    DocumentRejected,
    DocumentUnavailable,
    MediaType,
    path_of,
    read,
    safe_filename,
    sniff,
    store,
)
from huiminbao.settings import Settings, get_settings

LIMIT = 10 << 20


def pdf() -> bytes:
    """A real one-page PDF, as reportlab writes the e-policy."""
    out = io.BytesIO()
    page = canvas.Canvas(out, invariant=True, pageCompression=0)  # the same bytes every time, text readable
    page.drawString(72, 720, "Invoice 0001")
    page.save()
    return out.getvalue()


def image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 8), (200, 30, 30)).save(out, kind)
    return out.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def hand_png(width: int = 2, height: int = 2, depth: int = 8, colour: int = 0, crc_delta: int = 0) -> bytes:
    """A minimal greyscale PNG built from the specification, no library: signature, IHDR, IDAT, IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    head = chunk(b"IHDR", ihdr)
    if crc_delta:
        head = head[:-4] + struct.pack(">I", (zlib.crc32(b"IHDR" + ihdr) + crc_delta) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(min(height, 4)))  # filter byte, then pixels
    return PNG_SIGNATURE + head + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def refused(data: bytes, max_bytes: int | None = LIMIT, field: str = "file") -> DocumentRejected:
    with pytest.raises(DocumentRejected) as caught:
        sniff(data, max_bytes=max_bytes, field=field)
    return caught.value


@pytest.mark.parametrize(
    ("make", "media_type"),
    [(pdf, MediaType.PDF), (lambda: image("JPEG"), MediaType.JPEG), (lambda: image("PNG"), MediaType.PNG)],
    ids=["pdf", "jpeg", "png"],
)
def test_real_documents_are_recognised(make, media_type):
    assert sniff(make(), max_bytes=LIMIT) == media_type


def test_the_name_is_never_trusted():
    """A photo called 发票.pdf is a PNG; an HTML page called 发票.png is nothing we accept."""
    uploads = {"发票.pdf": image("PNG"), "清单.png": pdf(), "小结.jpg": image("PNG")}
    assert {name: sniff(data, max_bytes=LIMIT) for name, data in uploads.items()} == {
        "发票.pdf": "image/png",
        "清单.png": "application/pdf",
        "小结.jpg": "image/png",
    }
    page = b"<html><script>alert(1)</script></html>"
    assert refused(page).message == NOT_A_DOCUMENT


def test_a_hand_made_png_is_checked_by_its_header():
    assert sniff(hand_png(), max_bytes=LIMIT) == MediaType.PNG
    for broken in (hand_png(crc_delta=1), hand_png(depth=3), hand_png(colour=5), hand_png(width=0)):
        assert refused(broken).code == "document_damaged"


@pytest.mark.parametrize("kind", ["pdf", "JPEG", "PNG"])
def test_a_truncated_file_is_refused_in_chinese(kind):
    whole = pdf() if kind == "pdf" else image(kind)
    for cut in (len(whole) // 2, len(whole) - 3):
        rejected = refused(whole[:cut], field="invoice")
        assert (rejected.field, rejected.code) == ("invoice", "document_damaged")
        assert rejected.message == f"{kind.upper()} 文件不完整或已损坏，请重新导出或拍摄后上传"


def test_a_jpeg_with_trailing_padding_is_accepted():
    assert sniff(image("JPEG") + b"\x00" * 64 + b"\r\n", max_bytes=LIMIT) == MediaType.JPEG


def test_random_empty_and_oversize_files_are_refused():
    assert refused(os.urandom(4096)).message == NOT_A_DOCUMENT
    assert refused(b"%PDF-").code == "document_damaged"
    assert refused(b"").message == "文件是空的，请重新选择"
    big = refused(b"%PDF-1.7\n" + b"0" * LIMIT + b"%%EOF\n")
    assert (big.code, big.message) == ("document_too_large", "文件超过 10 MB 的上限，请压缩或分页后再上传")
    assert "2.5 MB" in refused(pdf() + b" " * (5 << 19), max_bytes=5 << 19).message


def test_an_image_too_many_pixels_to_decode_is_refused():
    """A tiny file claiming 20,000 x 20,000 pixels would take an adjuster's browser (or Pillow) gigabytes."""
    rejected = refused(hand_png(width=20_000, height=20_000))
    assert (rejected.code, rejected.message) == ("document_too_large", "图片像素过多，请缩小后再上传")


def test_the_limits_are_settings(tmp_path, monkeypatch):
    configured = Settings(var_dir=tmp_path)
    assert (configured.documents_dir, configured.document_max_bytes, configured.documents_per_claim) == (
        (tmp_path / "documents").resolve(),
        LIMIT,
        30,
    )
    assert Settings(var_dir=tmp_path, documents_dir=Path("/srv/hmb-docs")).documents_dir == Path("/srv/hmb-docs")
    with pytest.raises(ValueError, match="document_max_bytes"):
        Settings(var_dir=tmp_path, document_max_bytes=1 << 30)
    monkeypatch.setenv("HMB_DOCUMENT_MAX_BYTES", str(1 << 20))
    get_settings.cache_clear()
    try:
        assert "1 MB" in refused(pdf() + b" " * (1 << 20), max_bytes=None).message
    finally:
        get_settings.cache_clear()


def test_store_is_content_addressed_and_idempotent(tmp_path):
    data = image("PNG")
    digest = hashlib.sha256(data).hexdigest()
    first = store(data, root=tmp_path, max_bytes=LIMIT)
    assert (first.sha256, first.media_type, first.size) == (digest, MediaType.PNG, len(data))
    path = tmp_path / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == data and path_of(digest, root=tmp_path) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    before = path.stat()
    assert store(data, root=tmp_path, max_bytes=LIMIT) == first
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten
    other = store(pdf(), root=tmp_path, max_bytes=LIMIT)
    assert other.sha256 != digest and read(other.sha256, root=tmp_path) == pdf()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted([digest, other.sha256])


def test_store_refuses_what_sniff_refuses(tmp_path):
    with pytest.raises(DocumentRejected):
        store(b"not a document", root=tmp_path, max_bytes=LIMIT)
    assert not any(tmp_path.iterdir())


def test_the_same_document_stored_at_once_is_one_file(tmp_path):
    data, results = image("JPEG"), []
    threads = [threading.Thread(target=lambda: results.append(store(data, root=tmp_path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [results[0].sha256]


def test_a_changed_or_missing_file_is_never_served_nor_overwritten(tmp_path):
    data = pdf()
    kept = store(data, root=tmp_path, max_bytes=LIMIT)
    path = path_of(kept.sha256, root=tmp_path)
    path.write_bytes(data.replace(b"Invoice 0001", b"Invoice 9001"))
    with pytest.raises(DocumentUnavailable, match="不符"):
        read(kept.sha256, root=tmp_path)
    with pytest.raises(DocumentUnavailable):
        store(data, root=tmp_path, max_bytes=LIMIT)
    assert b"Invoice 9001" in path.read_bytes()  # the evidence stays for the operator
    path.unlink()
    with pytest.raises(DocumentUnavailable, match="不在"):
        read(kept.sha256, root=tmp_path)


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "../" + "0" * 61,
        "A" * 64,
        "0" * 63,
        "0" * 65,
        "0" * 64 + "\n",
        "/" + "0" * 63,
        "ab/cd/" + "0" * 58,
        "",
    ],
)
def test_only_a_sha256_names_a_document(tmp_path, name):
    with pytest.raises(ValueError, match="SHA-256"):
        read(name, root=tmp_path)


@pytest.mark.parametrize(
    ("uploaded", "shown"),
    [
        ("住院发票（2024年3月）.pdf", "住院发票（2024年3月）.pdf"),
        ("C:\\Users\\张三\\Desktop\\出院小结.jpg", "出院小结.jpg"),
        ("/storage/emulated/0/DCIM/IMG_0001.JPG", "IMG_0001.JPG"),
        ("../../etc/passwd", "passwd"),
        ("发票\u202egpj.exe", "发票gpj.exe"),  # a right-to-left override would show it as 发票exe.jpg
        ("清单\x00\r\n\t.png", "清单.png"),
        ("  费用   清单 .pdf  ", "费用 清单 .pdf"),
        ("..", "未命名文件"),
        ("", "未命名文件"),
        ("\x07\x1b", "未命名文件"),
    ],
)
def test_safe_filename(uploaded, shown):
    assert safe_filename(uploaded) == shown


def test_a_long_filename_keeps_its_extension():
    shown = safe_filename("处方" * 100 + ".pdf")
    assert len(shown) == 120 and shown.endswith("处方.pdf")


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"%PDF-", b"\xff\xd8\xff", PNG_SIGNATURE, hand_png()[:33]]),
    body=st.binary(max_size=512),
    suffix=st.sampled_from([b"", b"%%EOF\n", b"\xff\xd9", hand_png()[-12:]]),
)
def test_sniff_never_crashes(prefix, body, suffix):
    """Whatever bytes arrive, the answer is a media type or a refusal in Chinese, never another error."""
    try:
        assert sniff(prefix + body + suffix, max_bytes=LIMIT) in set(MediaType)
    except DocumentRejected as rejected:
        assert rejected.message and rejected.field == "file"


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_safe_filename_is_always_displayable(name):
    shown = safe_filename(name)
    assert 0 < len(shown) <= 120
    assert not any(ch in shown for ch in "/\\\x00\n\r\u202e")
