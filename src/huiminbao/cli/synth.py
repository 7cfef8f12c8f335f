"""``hmb synth``: write a synthetic city (roster, settlements, fee lines) for a plan."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from huiminbao.plans import PlanError, PlanNotFound, list_plans
from huiminbao.synth import generate_parts, write_parts
from huiminbao.synth.city import PART_PERSONS
from huiminbao.synth.write import FORMATS, output_names

EXIT_BAD_INPUT = 2


class SynthRefused(ValueError):
    """Bad input to ``hmb synth``: one line in Chinese naming the option (and path) at fault."""


def _check(
    plan: str, persons: int, records: int | None, records_per_person: float | None, fmt: str, out: Path, force: bool
) -> None:
    if persons < 1:
        raise SynthRefused(f"--persons：参保人数须为正整数，收到 {persons}")
    if records is not None and records_per_person is not None:
        raise SynthRefused("--records：与 --records-per-person 只能给出一个")
    if records is not None and records < 0:
        raise SynthRefused(f"--records：结算记录数不能为负，收到 {records}")
    if records_per_person is not None and records_per_person < 0:
        raise SynthRefused(f"--records-per-person：人均结算记录数不能为负，收到 {records_per_person}")
    if fmt not in FORMATS:
        raise SynthRefused(f"--fmt：输出格式须为 {'、'.join(FORMATS)} 之一，收到 {fmt!r}")
    if out.exists() and not out.is_dir():
        raise SynthRefused(f"--out：{out} 已存在且是文件，不是目录；请换一个输出目录")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise SynthRefused(f"--out：目录 {out} 已存在且不为空；加 --force 覆盖其中的合成数据文件，或换一个输出目录")
    known = [p.id for p in list_plans()]
    if plan not in known:
        raise SynthRefused(f"--plan：未知方案 {plan}（已有：{'、'.join(known)}）")


def _clear(out: Path) -> None:
    """With --force: remove the files an earlier run wrote, so none of them outlives this run's manifest."""
    for name in output_names():
        path = out / name
        if path.is_file():
            path.unlink()


def synth(
    plan: str = typer.Option(..., help="plan id whose city and year to simulate, e.g. liaocheng-2024"),
    persons: int = typer.Option(..., help="insured persons in the roster"),
    out: Path = typer.Option(..., help="output folder (new or empty; --force to overwrite an earlier run's files)"),
    seed: int = typer.Option(1, help="random seed; the same seed gives the same files"),
    records: int | None = typer.Option(None, help="settlement records in all, refunds included"),
    records_per_person: float | None = typer.Option(
        None,
        help="settlement records per person, refunds included; default: what the calibrated rates give (about 5)",
    ),
    fmt: str = typer.Option("parquet", "--fmt", help="parquet, csv or both"),
    fee_lines: bool = typer.Option(True, "--fee-lines/--no-fee-lines", help="also write fee lines (feedetl)"),
    force: bool = typer.Option(False, "--force", help="overwrite the synthetic files in an existing --out folder"),
    part_persons: int = typer.Option(
        PART_PERSONS, help="persons generated at a time: a larger city is made and written in parts (bounded memory)"
    ),
) -> None:
    """Generate a synthetic city-year for a plan: every amount identity holds to the fen."""
    console = Console(stderr=True)
    try:
        _check(plan, persons, records, records_per_person, fmt, out, force)
        if part_persons < 1:
            raise SynthRefused(f"--part-persons：每部分人数须为正整数，收到 {part_persons}")
        if force and out.is_dir():
            _clear(out)
        count = math.ceil(persons / part_persons)
        cities = generate_parts(
            plan,
            persons,
            seed,
            records=records,
            records_per_person=records_per_person,
            fee_lines=fee_lines,
            part_persons=part_persons,
        )
        with Progress(
            SpinnerColumn(),
            TextColumn(f"生成 {plan} 合成数据并写出到 {out}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("", total=count)
            files, manifest = write_parts(cities, out, fmt, lambda _: bar.advance(task))  # type: ignore[arg-type]
    except (SynthRefused, PlanNotFound, PlanError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except OSError as exc:
        typer.echo(f"--out：无法写入 {exc.filename or out}：{exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    counts: dict[str, int | None] = manifest["counts"]  # type: ignore[assignment]
    table = Table(title=f"{manifest['city']} {manifest['year']} ({plan}, seed {seed})")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for f in files:
        n = counts.get("persons" if f.stem == "roster" else f.stem)
        table.add_row(str(f), "" if n is None else f"{n:,}")
    console.print(table)
    if not manifest["calibrated"]:
        console.print("[yellow]记录数少于校准的就诊率所需：已随机保留部分就诊，赔付将低于校准水平[/]")
    timings: dict[str, float] = manifest["timings_seconds"]  # type: ignore[assignment]
    parts = f"，分 {count} 部分" if count > 1 else ""
    console.print(f"generated in {timings['total']:.1f} s{parts}")
