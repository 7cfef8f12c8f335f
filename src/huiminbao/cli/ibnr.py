"""``hmb ibnr TRIANGLE.csv [--json]``: chain-ladder IBNR on a plain cumulative paid triangle.

The file's values may be any numbers (decimals accepted; an actuary's triangle is often in thousands), so
they are read as numbers and every figure is shown rounded half up to two decimals; the platform's own
triangles (``supervision.lossratio``) stay integer fen and come out as yuan.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from huiminbao.supervision.ibnr import TriangleError, chain_ladder, read_csv, to_dict


def ibnr(
    triangle: Path = typer.Argument(..., help="CSV with columns origin,development,value (cumulative paid)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
) -> None:
    """Project each origin's ultimate by the volume-weighted chain ladder (no tail) and print the triangle,
    the age-to-age and cumulative factors, and latest, ultimate and IBNR per origin and in total."""
    try:
        tri, warnings = read_csv(triangle)
    except OSError as exc:
        typer.echo(f"{triangle}：无法读取（{exc.strerror or exc}）", err=True)
        raise typer.Exit(2) from None
    except UnicodeDecodeError:
        typer.echo(f"{triangle}：文件应为 UTF-8 编码的 CSV", err=True)
        raise typer.Exit(2) from None
    except TriangleError as exc:
        typer.echo(f"{triangle}：{exc}", err=True)
        raise typer.Exit(2) from None
    result = to_dict(chain_ladder(tri))
    if as_json:
        typer.echo(json.dumps({**result, "warnings": warnings}, ensure_ascii=False))
        return
    for w in warnings:
        typer.echo(f"注意：{w}", err=True)
    console = Console()
    shape = Table("起始期", *(str(a) for a in result["ages"]), title="累计已付三角形（行：起始期；列：发展期）")
    for origin, row in zip(result["origins"], result["triangle"], strict=True):
        shape.add_row(origin, *(v or "" for v in row))
    console.print(shape)
    factors = Table("发展期", "逐期发展因子", "累计发展因子", title="发展因子（按金额加权，无尾部因子）")
    for k, cdf in enumerate(result["cdf"]):
        step = result["factors"][k] if k < len(result["factors"]) else None
        label = f"{step['from']}-{step['to']}" if step else f"{cdf['age']}-最终"
        factors.add_row(label, f"{step['factor']:.6f}" if step else "", f"{cdf['factor']:.6f}")
    console.print(factors)
    rows = Table("起始期", "最新发展期", "最新累计", "累计发展因子", "最终赔款", "IBNR", title="最终赔款与 IBNR")
    for r in result["rows"]:
        rows.add_row(r["origin"], str(r["age"]), r["latest"], f"{r['cdf']:.6f}", r["ultimate"], r["ibnr"])
    total = result["total"]
    rows.add_row("合计", "", total["latest"], "", total["ultimate"], total["ibnr"])
    console.print(rows)
