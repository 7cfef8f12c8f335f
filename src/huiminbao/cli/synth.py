"""``hmb synth``: write a synthetic city (roster, settlements, fee lines) for a plan."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from huiminbao.synth import generate_city, write_city
from huiminbao.synth.city import DEFAULT_RECORDS_PER_PERSON

CITY_FILES = {"roster", "settlements", "fee_lines", "institutions", "manifest"}


def synth(
    plan: str = typer.Option(..., help="plan id whose city and year to simulate, e.g. liaocheng-2024"),
    persons: int = typer.Option(..., min=1, help="insured persons in the roster"),
    out: Path = typer.Option(..., help="output folder"),
    seed: int = typer.Option(1, help="random seed; the same seed gives the same files"),
    records_per_person: float = typer.Option(
        DEFAULT_RECORDS_PER_PERSON, min=0.0, help="settlement records per person, refunds included"
    ),
    fmt: str = typer.Option("parquet", "--fmt", help="parquet, csv or both"),
    fee_lines: bool = typer.Option(True, "--fee-lines/--no-fee-lines", help="also write fee lines (feedetl)"),
    force: bool = typer.Option(False, "--force", help="overwrite a city already written in the folder"),
) -> None:
    """Generate a synthetic city-year for a plan: every amount identity holds to the fen."""
    console = Console(stderr=True)
    if fmt not in ("parquet", "csv", "both"):
        console.print(f"--fmt 应为 parquet、csv 或 both，而不是 {fmt!r}", soft_wrap=True)
        raise typer.Exit(2)
    if out.exists() and not out.is_dir():
        console.print(f"输出位置 {out} 已存在且不是文件夹：请给出一个文件夹", soft_wrap=True, markup=False)
        raise typer.Exit(2)
    taken = [f.name for f in out.glob("*") if f.stem in CITY_FILES] if out.is_dir() else []
    if taken and not force:
        console.print(
            f"文件夹 {out} 中已有合成数据（{'、'.join(sorted(taken))}）：换一个文件夹，或用 --force 覆盖",
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(2)
    try:
        with console.status(f"生成 {plan} 合成数据 …"):
            city = generate_city(plan, persons, seed, records_per_person=records_per_person, fee_lines=fee_lines)
        with console.status(f"写出到 {out} …"):
            files = write_city(city, out, fmt)  # type: ignore[arg-type]
    except KeyError as exc:
        console.print(f"没有方案 {plan}：{exc}", soft_wrap=True, markup=False)
        raise typer.Exit(2) from exc
    except OSError as exc:
        console.print(f"无法写入 {out}：{exc.strerror}", soft_wrap=True, markup=False)
        raise typer.Exit(2) from exc
    table = Table(title=f"{city.manifest['city']} {city.manifest['year']} ({plan}, seed {seed})")
    table.add_column("file")
    table.add_column("rows", justify="right")
    rows = {
        "roster": city.roster.height,
        "settlements": city.settlements.height,
        "fee_lines": None if city.fee_lines is None else city.fee_lines.height,
        "institutions": city.institutions.height,
    }
    for f in files:
        n = rows.get(f.stem)
        table.add_row(str(f), "" if n is None else f"{n:,}")
    console.print(table)
    console.print(f"generated in {city.timings['total']:.1f} s")
