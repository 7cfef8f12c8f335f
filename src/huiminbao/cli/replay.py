"""``hmb replay``: a synthetic city's year sent through the one-stop API, as its hospitals would send it.

Each settlement is signed by its hospital (registered from the city's ``institutions.csv`` when new) and
posted to ``/api/v1/settlements`` in ``setl_time`` order on several connections, a share of them late
(after the rest of the year) when asked; refunds that overtook their original are sent again at the
end. Then, with ``--year-end``, the year-end re-adjudication. Without ``--url`` the server is started
for the replay on a free port against the configured database, and stopped after.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import httpx
import polars as pl
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from huiminbao.db.session import Database
from huiminbao.flows.settle_file import bodies
from huiminbao.identity import audit
from huiminbao.identity.service import add_hospital, hospital_secrets
from huiminbao.money import to_fen, to_yuan
from huiminbao.settings import get_settings
from huiminbao.settlement.sender import Sent, send_year

LEVELS = {"一级": 1, "二级": 2, "三级": 3}  # hosp_lv as the city's institutions.csv writes it


def replay(
    city: Annotated[
        Path | None, typer.Option(help="a synthetic city's folder (hmb synth); default <var_dir>/demo")
    ] = None,
    url: Annotated[str | None, typer.Option(help="a running server; default: one started for the replay")] = None,
    senders: Annotated[int, typer.Option(min=1, max=256, help="concurrent connections")] = 32,
    late: Annotated[float, typer.Option(min=0, max=1, help="share of records that arrive after the year")] = 0.0,
    limit: Annotated[int | None, typer.Option(min=1, help="only the year's first N settlements")] = None,
    run_year_end: Annotated[bool, typer.Option("--year-end", help="re-adjudicate the year afterwards")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Replay a city's year of settlements through the one-stop API (signed, concurrent), then optionally
    run the year-end re-adjudication; prints what was paid, replayed and refused (by code)."""
    settings = get_settings()
    folder = city or settings.var_dir / "demo"
    manifest = folder / "manifest.json"
    if not manifest.exists():
        typer.echo(f"{folder} 不是合成城市目录（缺少 manifest.json）：先运行 make demo 或 hmb synth", err=True)
        raise typer.Exit(2)
    plan_id = json.loads(manifest.read_text(encoding="utf-8"))["plan_id"]
    records = [body for _, body in bodies(_file(folder, "settlements"), _file(folder, "fee_lines"))][:limit]
    records = arrival(records, late)
    db = Database.from_url(settings.database_url)
    try:
        secrets = _hospitals(db, folder / "institutions.csv", settings.pii_key_bytes, settings.pii_keys)
        sent = _send(settings.database_url, url, records, secrets, senders, as_json)
        summary = _summary(sent)
        if run_year_end:
            from huiminbao.settlement.yearend import year_end

            with db.session() as s:
                summary["year_end"] = year_end(session=s, actor=audit.CLI, plan_id=plan_id).summary()
    finally:
        db.dispose()
    typer.echo(json.dumps(summary, ensure_ascii=False, indent=None if as_json else 2))


def arrival(records: list[dict[str, Any]], late: float, seed: int = 1) -> list[dict[str, Any]]:
    """The records in order, a ``late`` share of them (drawn with ``seed``) moved to the end."""
    picked = set(random.Random(seed).sample(range(len(records)), round(len(records) * late)))
    return [r for i, r in enumerate(records) if i not in picked] + [records[i] for i in sorted(picked)]


def _file(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / f"{stem}.parquet", folder / f"{stem}.csv") if p.exists()), None)


def _hospitals(db: Database, institutions: Path, key: bytes, keys: list[bytes]) -> dict[str, str]:
    """Each institution's signing secret, registering the ones the platform does not know yet."""
    out = {}
    with db.session() as s:
        for code, name, level in pl.read_csv(institutions, infer_schema=False).select(
            "fixmedins_code", "fixmedins_name", "hosp_lv"
        ).iter_rows():  # fmt: skip
            known = hospital_secrets(session=s, keys=keys, code=code)
            level_no = LEVELS.get(level or "")
            out[code] = known[0] if known else add_hospital(
                session=s, actor=audit.CLI, key=key, code=code, name=name, level=level_no
            )  # fmt: skip
    return out


def _send(
    database_url: str,
    url: str | None,
    records: list[dict[str, Any]],
    secrets: dict[str, str],
    senders: int,
    quiet: bool,
) -> list[Sent]:
    """Each record's last answer (a refund that overtook its original is sent again)."""
    from huiminbao.cli.serve import spawn, stop
    from huiminbao.db.pgcluster import free_port

    server = None
    if url is None:
        port = free_port()
        server = spawn(database_url, port, workers=2)
        url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            if quiet:
                sent = send_year(client, records, secrets, senders=senders)
            else:
                with Progress(
                    TextColumn("结算"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
                ) as bar:
                    task = bar.add_task("replay", total=len(records))
                    sent = send_year(client, records, secrets, senders=senders, progress=lambda n: bar.advance(task, n))
    finally:
        if server is not None:
            stop(server)
    return list({id(s.body): s for s in sent}.values())


def _summary(sent: list[Sent]) -> dict[str, Any]:
    codes = Counter(s.code for s in sent)
    paid = sum(to_fen(s.answer["payout"]) for s in sent if s.code == "ok")
    return {
        "sent": len(sent),
        "settled": codes.pop("ok", 0),
        "replayed": codes.pop("replayed", 0),
        "refused": dict(codes.most_common()),
        "payout": to_yuan(paid),
    }
