"""Claim documents (invoices, fee lists, discharge summaries, prescriptions, filing proofs) as files.

A document is judged by its bytes, never by its name: a resident's phone may call a photo
``发票.pdf``, and a file named ``.png`` may be anything. ``sniff`` accepts PDF, JPEG and PNG only,
whole (a PDF ends with ``%%EOF``, a JPEG with its end-of-image marker, a PNG with ``IEND``; a
half-uploaded file is refused while the resident can still send it again), and images must also
open in Pillow (which reportlab, the e-policy's PDF library, already brings).

Files live outside the database, content-addressed: ``root/ab/cd/<sha256>``. The name is the
content's hash, so storing the same file twice writes nothing, two claims sharing a scan share one
file, a file at a name can never be replaced by other content, and ``read`` proves on every read
that the bytes are the ones the claim recorded. The row in ``claim_document`` (kind, hash, media
type, size, the name as uploaded) is what the claims service writes and audits; this module does
no access control: routes serve a document only to the claimant and the staff who may see it.
"""

from __future__ import annotations

import enum
import hashlib
import io
import os
import re
import struct
import tempfile
import unicodedata
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from PIL import Image

from huiminbao.settings import get_settings

NOT_A_DOCUMENT = "文件内容不是 PDF、JPEG 或 PNG（按内容判断，与文件名无关）"
FILE_MODE = 0o640  # the server's group (a backup job) may read; nobody else
DIR_MODE = 0o750
MAX_FILENAME = 120  # characters kept of an uploaded file's name, for display
UNNAMED = "未命名文件"
TAIL = 1024  # where a PDF's %%EOF may sit: its last KiB (writers may add a newline or padding after it)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # an empty IEND chunk with its CRC: every PNG's last 12 bytes
PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}  # colour type: bit depths
JPEG_PADDING = b"\x00\xff\r\n "  # what cameras and scanners leave after the end-of-image marker
SHA256_NAME = re.compile(r"[0-9a-f]{64}")
# dropped from displayed names: controls, formatting (bidi overrides), surrogates, private use, unassigned,
# line and paragraph separators
DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


class MediaType(enum.StrEnum):
    """The media types a claim document may have, as stored in ``claim_document.media_type``."""

    PDF = "application/pdf"
    JPEG = "image/jpeg"
    PNG = "image/png"


class DocumentRejected(ValueError):
    """An upload that is not accepted as a document; ``message`` says why in Chinese, ``field`` names
    the form field, ``code`` is stable for programs (the API's error body)."""

    def __init__(self, field: str, message: str, code: str = "invalid_document"):
        self.field, self.message, self.code = field, message, code
        super().__init__(message)


class DocumentUnavailable(Exception):
    """A stored document that is missing or whose bytes no longer match its hash: the store was
    damaged or tampered with, which an operator must hear about (never served, never overwritten)."""


@dataclass(frozen=True)
class Stored:
    """A document as kept: its hash (its name in the store), what it is and how big."""

    sha256: str
    media_type: MediaType
    size: int


def sniff(data: bytes, *, max_bytes: int | None = None, field: str = "file") -> MediaType:
    """The document's media type, from its content alone; ``DocumentRejected`` for anything else.

    ``max_bytes`` defaults to ``HMB_DOCUMENT_MAX_BYTES``; ``field`` is the form field the refusal names.
    """
    limit = get_settings().document_max_bytes if max_bytes is None else max_bytes
    if not data:
        raise DocumentRejected(field, "文件是空的，请重新选择", "document_empty")
    if len(data) > limit:
        raise DocumentRejected(
            field, f"文件超过 {limit / (1 << 20):g} MB 的上限，请压缩或分页后再上传", "document_too_large"
        )
    if data.startswith(b"%PDF-"):
        if b"%%EOF" not in data[-TAIL:]:
            raise _damaged(field, "PDF")
        return MediaType.PDF
    if data.startswith(b"\xff\xd8\xff"):
        if not data.rstrip(JPEG_PADDING).endswith(b"\xff\xd9"):
            raise _damaged(field, "JPEG")
        _decodes(data, "JPEG", field)
        return MediaType.JPEG
    if data.startswith(PNG_SIGNATURE):
        if not _png_header_ok(data) or not data.endswith(PNG_IEND):
            raise _damaged(field, "PNG")
        _decodes(data, "PNG", field)
        return MediaType.PNG
    raise DocumentRejected(field, NOT_A_DOCUMENT, "document_type")


def _damaged(field: str, kind: str) -> DocumentRejected:
    return DocumentRejected(field, f"{kind} 文件不完整或已损坏，请重新导出或拍摄后上传", "document_damaged")


def _png_header_ok(data: bytes) -> bool:
    """Whether the first chunk is a well-formed IHDR: length 13, a matching CRC, sane dimensions and a
    bit depth its colour type allows (a renamed or hand-made file rarely gets all of these right)."""
    head = data[8:33]
    if len(head) < 25 or head[:8] != b"\x00\x00\x00\rIHDR":
        return False
    body, (crc,) = head[4:21], struct.unpack(">I", head[21:25])
    if zlib.crc32(body) != crc:
        return False
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body[4:])
    return (
        0 < width < 1 << 31
        and 0 < height < 1 << 31
        and depth in PNG_DEPTHS.get(colour, ())
        and compression == 0
        and filtering == 0
        and interlace in (0, 1)
    )


def _decodes(data: bytes, kind: str, field: str) -> None:
    """Refuse an image Pillow cannot read as ``kind``, or one so large in pixels that decoding it for an
    adjuster would be a decompression bomb (Pillow's own limit, its warning treated as a refusal)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DocumentRejected(field, "图片像素过多，请缩小后再上传", "document_too_large") from exc
    except Exception as exc:  # Pillow answers a broken file with many exception types; all mean the same
        raise _damaged(field, kind) from exc


def path_of(sha256: str, *, root: Path) -> Path:
    """Where a document lives: ``root/ab/cd/<sha256>``; anything but 64 lowercase hex digits is refused,
    so no name from a URL can reach outside the store."""
    if not isinstance(sha256, str) or not SHA256_NAME.fullmatch(sha256):
        raise ValueError("not a document's SHA-256 (64 lowercase hex digits)")
    return root / sha256[:2] / sha256[2:4] / sha256


def store(data: bytes, *, root: Path, max_bytes: int | None = None, field: str = "file") -> Stored:
    """Check the document (``sniff``) and keep it under its SHA-256, atomically and at most once.

    The file is written to a temporary name in its final folder, flushed to disk, then linked to its
    name, which fails if the name exists: a reader never sees half a file, and nothing already stored
    is replaced. A document already there is checked against its hash, not rewritten.
    """
    media_type = sniff(data, max_bytes=max_bytes, field=field)
    digest = hashlib.sha256(data).hexdigest()
    path = path_of(digest, root=root)
    stored = Stored(digest, media_type, len(data))
    if path.exists():
        read(digest, root=root)
        return stored
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # same folder: the link below is atomic
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), FILE_MODE)
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # the same document stored at the same moment by another request
            read(digest, root=root)
            return stored
        _sync_dir(path.parent)
    finally:
        os.unlink(tmp)
    return stored


def _sync_dir(folder: Path) -> None:
    """Make the new name durable: a crash after the claim's row commits must not lose the file."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(sha256: str, *, root: Path) -> bytes:
    """The document's bytes, proven to hash to ``sha256``; ``DocumentUnavailable`` if missing or altered,
    ``ValueError`` for a name that is not a SHA-256."""
    path = path_of(sha256, root=root)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentUnavailable(f"文件 {sha256} 不在文件库中") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DocumentUnavailable(f"文件 {sha256} 的内容与其 SHA-256 不符（已损坏或被改动）")
    return data


def safe_filename(name: str) -> str:
    """An uploaded file's name fit to display: its last path part, without control or bidirectional
    formatting characters (``发票\u202egpj.exe`` must not read as something else), whitespace collapsed,
    at most ``MAX_FILENAME`` characters keeping the extension; Chinese is kept as typed."""
    name = unicodedata.normalize("NFC", name)
    name = PureWindowsPath(PurePosixPath(name).name).name  # both separators: phones and Windows send either
    name = "".join(" " if ch.isspace() else ch for ch in name if unicodedata.category(ch) not in DROPPED)
    name = " ".join(name.split()).strip(". ")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        keep = f"{dot}{ext}" if dot and stem and len(ext) <= 10 else ""
        name = name[: MAX_FILENAME - len(keep)].rstrip(". ") + keep
    return name or UNNAMED
