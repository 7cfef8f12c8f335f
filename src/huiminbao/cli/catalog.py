"""``hmb catalog``: check a catalog file as the admin page does before accepting it, list those in force."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from huiminbao.admin.catalogs import CatalogRejected, check_upload, in_force
from huiminbao.plans.catalog import KIND_LABELS, STATUS_LABELS

app = typer.Typer(help="Catalogs (drugs, institutions, ICD-10): check, list.", no_args_is_help=True)


@app.command("check")
def check(
    files: list[Path],
    as_json: bool = typer.Option(False, "--json", help="one JSON document with each file's result"),
) -> None:
    """Validate catalog files (.yaml, or .csv/.xlsx entries of the catalog named by the file) and try each
    on the plans that name it; every problem names the file and the field or row. Writes nothing."""
    results: list[dict[str, Any]] = []
    for f in files:
        try:
            checked = check_upload(f.name, f.read_bytes())
        except OSError as exc:
            results.append({"file": str(f), "ok": False, "problems": [[str(f), "", f"无法读取：{exc.strerror}"]]})
            continue
        except CatalogRejected as exc:
            results.append({"file": str(f), "ok": False, "problems": [list(p) for p in exc.problems]})
            continue
        cat = checked.catalog
        results.append(
            {"file": str(f), "ok": True, "catalog": cat.id, "kind": cat.kind.value, "entries": len(cat.entries)}
            | {"plans": list(checked.plans), "problems": []}
        )
    if as_json:
        typer.echo(json.dumps({"files": results}, ensure_ascii=False))
    for r in [] if as_json else results:
        if r["ok"]:
            plans = "、".join(r["plans"]) or "无"
            typer.echo(f"{r['file']}: ok, catalog {r['catalog']} ({r['kind']}, {r['entries']} entries), plans: {plans}")
        for name, field, message in r["problems"]:
            typer.echo(f"{name}: {field or '（文件）'}: {message}", err=True)
    raise typer.Exit(0 if all(r["ok"] for r in results) else 1)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="one JSON document")) -> None:
    """The catalogs in force (the operator's before the packaged ones) and the plans that name each."""
    found = in_force()
    rows = [
        {
            "file": c.file,
            "id": c.catalog.id if c.catalog else None,
            "name": c.catalog.name if c.catalog else None,
            "kind": c.catalog.kind.value if c.catalog else None,
            "entries": len(c.catalog.entries) if c.catalog else None,
            "status": c.catalog.status.value if c.catalog else None,
            "plans": [plan_id for plan_id, _ in c.plans],
            "sha256": c.sha256,
            "packaged": c.packaged,
            "problem": c.problem,
        }
        for c in found
    ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("id", "名称", "类型", "条目", "状态", "方案", "SHA-256")
    for r, c in zip(rows, found, strict=True):
        if c.catalog is None:
            table.add_row(r["file"], f"无法读取：{r['problem']}", "", "", "", "", r["sha256"][:12])
            continue
        kind, status = KIND_LABELS[c.catalog.kind], STATUS_LABELS[c.catalog.status]
        plans = ", ".join(r["plans"])
        table.add_row(r["id"], r["name"], kind, str(r["entries"]), status, plans, r["sha256"][:12])
    Console().print(table)
