"""Settlements that arrive in a file (the bureau's daily file, hospitals not yet connected), through the
same ``flows.onestop.settle_batch`` as the API.

Records go in ``setl_time`` order (then ``setl_id``), in batches that never hold a person twice, so a file
sent twice, or stopped anywhere (even by SIGKILL) and sent again, ends exactly where an uninterrupted run
ends: each batch is committed whole or not at all, and a record already stored is answered from the store
and pays nothing more.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from huiminbao.db.session import Database
from huiminbao.flows.onestop import batches, settle_batch
from huiminbao.identity import audit
from huiminbao.money import to_yuan
from huiminbao.settlement.io import suffix
from huiminbao.settlement.models import SettlementSource
from huiminbao.settlement.onestop import Item, SettlementRefused
from huiminbao.settlement.reader import RecordError

LINE = "_line"


@dataclass
class FileResult:
    settled: int = 0
    replayed: int = 0
    payout_fen: int = 0  # paid by the records settled now
    refused: list[dict[str, Any]] = field(default_factory=list)  # line, setl_id, code, field, message

    def summary(self) -> dict[str, Any]:
        return {
            "settled": self.settled,
            "replayed": self.replayed,
            "refused": len(self.refused),
            "payout": to_yuan(self.payout_fen),
        }

    def report_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["line", "setl_id", "code", "field", "message"])
        writer.writeheader()
        writer.writerows(self.refused)
        return out.getvalue()


def text_rows(path: Path) -> list[dict[str, Any]]:
    """A CSV or Parquet file's rows as the text a CSV holds (dates ``YYYY-MM-DD``, times ``YYYY-MM-DD
    HH:MM:SS``, lists of codes joined by ';'), numbered by their line in the file (header = 1)."""
    if not path.is_file():
        raise RecordError(str(path), "(file)", "文件不存在")
    if suffix(path) == ".csv":
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    else:
        raw = pl.read_parquet(path)
        frame = raw.select(
            pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S")
            if isinstance(t, pl.Datetime)
            else pl.col(c).list.join(";")
            if isinstance(t, pl.List)
            else pl.col(c).cast(pl.Utf8)
            for c, t in raw.schema.items()
        )
    return frame.with_columns(pl.int_range(2, pl.len() + 2).alias(LINE)).to_dicts()


def bodies(settlements: Path, fee_lines: Path | None) -> list[tuple[int, dict[str, Any]]]:
    """One API body per settlement row, with its fee lines, in ``setl_time`` then ``setl_id`` order."""
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in text_rows(fee_lines) if fee_lines is not None else []:
        row.pop(LINE)
        lines[str(row.get("setl_id") or "")].append(
            {k: v for k, v in row.items() if k != "setl_id" and v not in (None, "")}
        )
    out = []
    for row in text_rows(settlements):
        line = row.pop(LINE)
        codes = str(row.pop("diseases", None) or "").replace("，", ";").replace(",", ";")
        setlinfo = {k: v for k, v in row.items() if v not in (None, "")}
        body = {"setlinfo": setlinfo, "feedetl": lines.get(str(setlinfo.get("setl_id") or ""), [])}
        body["diseases"] = [c.strip() for c in codes.split(";") if c.strip()]
        out.append((line, body))
    return sorted(
        out, key=lambda x: (str(x[1]["setlinfo"].get("setl_time") or ""), str(x[1]["setlinfo"].get("setl_id") or ""))
    )


def settle_file(
    db: Database,
    settlements: Path,
    fee_lines: Path | None = None,
    *,
    actor: audit.Actor = audit.CLI,
    batch: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> FileResult:
    """Settle every record of the file in order, in batches that are each one transaction (a batch ends
    before a person's next record, so each record is settled as it would be alone); refusals are
    collected with their line, code, field and message, and the rest go on."""
    return settle_bodies(db, bodies(settlements, fee_lines), actor=actor, batch=batch, progress=progress)


def settle_bodies(
    db: Database,
    todo: list[tuple[int, dict[str, Any]]],
    *,
    actor: audit.Actor = audit.CLI,
    batch: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> FileResult:
    """``settle_file`` on records already read (line, body), in the order given (``bodies``'s)."""
    result = FileResult()
    items = [
        Item(actor, str(body["setlinfo"].get("fixmedins_code") or ""), body, SettlementSource.FILE) for _, body in todo
    ]
    lines = {id(it): line for it, (line, _) in zip(items, todo, strict=True)}
    done = 0
    for part in batches(items, batch):
        for it, outcome in zip(part, settle_batch(db, part), strict=True):
            info, line = it.body["setlinfo"], lines[id(it)]
            if isinstance(outcome, SettlementRefused):
                result.refused.append(_refusal(line, info, outcome.code, outcome.field, outcome.message))
            elif isinstance(outcome, RecordError):
                result.refused.append(_refusal(line, info, "invalid_record", outcome.field, str(outcome)))
            elif outcome.replayed:
                result.replayed += 1
            else:
                result.settled += 1
                result.payout_fen += outcome.settlement.payout_fen
        done += len(part)
        if progress is not None:
            progress(done, len(todo))
    return result


def _refusal(line: int, info: dict[str, Any], code: str, field: str | None, message: str) -> dict[str, Any]:
    return {"line": line, "setl_id": info.get("setl_id"), "code": code, "field": field, "message": message}


__all__ = ["FileResult", "bodies", "settle_bodies", "settle_file"]
