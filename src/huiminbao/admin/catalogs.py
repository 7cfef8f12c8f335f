"""Uploading a catalog (drug, institution or ICD-10 list) the way a plan file is uploaded.

The bureau sends its lists as spreadsheets, the platform keeps them as YAML beside the plans: an
upload is checked field by field (or row by row), then tried on every plan that names the file,
and only when all of that passes is it written to ``HMB_PLANS_DIR/catalogs/<id>.yaml``, where the
loader finds it before the packaged catalog of that name. The audit entry records the SHA-256 of
the file replaced and of the new one, which is the catalog's version history.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from sqlalchemy.orm import Session

from huiminbao.admin.plans import register_plans
from huiminbao.identity import audit
from huiminbao.plans import PlanError, load_plan_file
from huiminbao.plans.catalog import Catalog, check_catalog
from huiminbao.plans.loader import catalog_dirs, load_catalog, plan_files
from huiminbao.plans.messages import read_message, yaml_message

MAX_CATALOG_BYTES = 5 << 20
SHEETS = (".csv", ".xlsx")
# a spreadsheet's header: the code column (required) and the name column, English or Chinese
CODE_COLUMNS = ("code", "编码", "代码")
NAME_COLUMNS = ("name", "名称")


class CatalogRejected(ValueError):
    """An upload that may not be accepted; ``problems`` are (file, field or row, message) in Chinese."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{f}: {field or '（文件）'}: {msg}" for f, field, msg in problems))


@dataclass(frozen=True)
class InForce:
    """A catalog file the loader uses now, and the plans that name it."""

    file: str
    path: Path
    sha256: str
    packaged: bool
    catalog: Catalog | None  # None: the file does not validate (``problem`` says why)
    problem: str | None
    plans: tuple[tuple[str, str], ...]  # (plan id, the key the plan gives the catalog)


@dataclass(frozen=True)
class Checked:
    """An upload that validates and leaves every plan naming it valid."""

    name: str
    catalog: Catalog
    content: bytes  # the YAML written on acceptance (a spreadsheet converted)
    plans: tuple[str, ...]  # the plans tried with it
    replaces: InForce | None

    @property
    def file(self) -> str:
        return f"{self.catalog.id}.yaml"


def _references() -> dict[str, list[tuple[str, str, Path]]]:
    """Catalog file name -> (plan id, catalog key, plan file), read from the plans' YAML as written, so
    that a plan that does not load today (say, because of its catalog) is still found."""
    out: dict[str, list[tuple[str, str, Path]]] = {}
    for plan_id, path in plan_files().items():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, ValueError, OSError):
            continue
        refs = data.get("catalogs") if isinstance(data, dict) else None
        for key, ref in (refs or {}).items() if isinstance(refs, dict) else ():
            if isinstance(ref, dict) and isinstance(ref.get("file"), str):
                out.setdefault(ref["file"], []).append((plan_id, str(key), path))
    return out


def in_force() -> list[InForce]:
    """Every catalog file the loader would use, the operator's before the packaged ones of that name."""
    files: dict[str, Path] = {}
    for d in catalog_dirs():
        for path in sorted(d.glob("*.yaml")) if d.is_dir() else ():
            files.setdefault(path.name, path)
    refs = _references()
    out = []
    for name, path in sorted(files.items()):
        try:
            catalog, problem = load_catalog(path), None
        except PlanError as exc:
            catalog, problem = None, str(exc)
        out.append(
            InForce(
                file=name,
                path=path,
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                packaged=path.parent == catalog_dirs()[-1],
                catalog=catalog,
                problem=problem,
                plans=tuple((plan_id, key) for plan_id, key, _ in refs.get(name, ())),
            )
        )
    return out


def _rows(name: str, data: bytes) -> pl.DataFrame:
    try:
        if name.lower().endswith(".xlsx"):
            return pl.read_excel(io.BytesIO(data), engine="calamine", infer_schema_length=0)
        return pl.read_csv(io.BytesIO(data), infer_schema=False, encoding="utf8", truncate_ragged_lines=True)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise CatalogRejected([(name, "", f"无法读取表格（{type(exc).__name__}）：应为 UTF-8 CSV 或 .xlsx")]) from None


def _from_sheet(name: str, data: bytes) -> tuple[dict[str, Any], InForce, list[int]]:
    """A spreadsheet's rows as the entries of the catalog in force whose id is the file's name (the bureau
    sends entries, the header (name, kind, status, citation) stays the platform's), with each entry's row."""
    cid = Path(name).stem
    current = next((c for c in in_force() if c.file == f"{cid}.yaml" and c.catalog is not None), None)
    if current is None or current.catalog is None:
        raise CatalogRejected(
            [(name, "", f"没有编号为 {cid} 的目录：表格只能更新已有目录的条目（文件名即目录编号），新目录请上传 YAML")]
        )
    frame = _rows(name, data)
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    code = next((c for c in CODE_COLUMNS if c in frame.columns), None)
    if code is None:
        raise CatalogRejected([(name, "第1行", f"缺少编码列：表头应有 {' 或 '.join(CODE_COLUMNS)}")])
    label = next((c for c in NAME_COLUMNS if c in frame.columns), None)
    entries, lines = [], []
    for line, row in enumerate(frame.iter_rows(named=True), start=2):
        text = {k: (str(v).strip() if v is not None else "") for k, v in row.items()}
        if not any(text.values()):
            continue  # a blank row between blocks of a sheet
        entry = {"code": text[code]}
        if label is not None and text[label]:
            entry["name"] = text[label]
        entries.append(entry)
        lines.append(line)
    head = current.catalog.model_dump(mode="json", exclude={"entries"}, exclude_none=True)
    return head | {"entries": entries}, current, lines


def check_upload(name: str, data: bytes) -> Checked:
    """Check an uploaded catalog (YAML as shipped, or CSV/XLSX with a ``code,name`` header) and try it on
    every plan that names its file; raise CatalogRejected with every problem by file and field or row."""
    name = Path(name or "catalog.yaml").name
    suffix = Path(name).suffix.lower()
    if len(data) > MAX_CATALOG_BYTES or suffix not in (".yaml", *SHEETS):
        raise CatalogRejected([(name, "", "应为不超过 5 MB 的 .yaml、.csv 或 .xlsx 目录文件")])
    if suffix in SHEETS:
        raw, current, lines = _from_sheet(name, data)
        catalog = _checked(name, raw, row=lambda i, key: f"第{lines[i]}行" + (f" {key} 列" if key else ""))
        content = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False).encode("utf-8")
    else:
        try:
            raw = yaml.safe_load(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise CatalogRejected([(name, "", "文件应为 UTF-8 编码")]) from None
        except yaml.YAMLError as exc:
            raise CatalogRejected([(name, "", yaml_message(exc))]) from None
        except ValueError as exc:  # a date YAML cannot construct
            raise CatalogRejected([(name, "", read_message(exc))]) from None
        catalog = _checked(name, raw)
        content = data
        current = next((c for c in in_force() if c.file == f"{catalog.id}.yaml"), None)
    file = f"{catalog.id}.yaml"
    users = _references().get(file, [])
    broken = []
    for plan_id, _key, path in users:
        try:
            load_plan_file(path, catalogs={file: catalog})
        except PlanError as exc:
            broken += [
                (path.name, field, f"方案 {plan_id} 使用此目录后不能通过检查：{msg}") for field, msg in exc.problems
            ]
    if broken:
        raise CatalogRejected(broken)
    return Checked(name=name, catalog=catalog, content=content, plans=tuple(p for p, _, _ in users), replaces=current)


def _checked(name: str, raw: Any, **row: Any) -> Catalog:
    try:
        return check_catalog(raw, name, **row)
    except PlanError as exc:
        raise CatalogRejected([(name, field, msg) for field, msg in exc.problems]) from None


def accept(*, session: Session, actor: audit.Actor, checked: Checked, folder: Path) -> Path:
    """Write the checked catalog into the operator's folder (all at once: a reader never sees half a file),
    record the plans' versions as a plan upload does, and audit the change with both files' SHA-256."""
    target = folder / "catalogs" / checked.file
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".yaml.part")
    partial.write_bytes(checked.content)
    os.replace(partial, target)
    register_plans(session=session)
    before = checked.replaces
    audit.record(
        session=session,
        actor=actor,
        action="catalog.upload",
        entity="catalog",
        entity_id=checked.catalog.id,
        before={"file": str(before.path), "sha256": before.sha256} if before else None,
        after={
            "file": str(target),
            "sha256": hashlib.sha256(checked.content).hexdigest(),
            "kind": checked.catalog.kind.value,
            "entries": len(checked.catalog.entries),
            "plans": list(checked.plans),
            "uploaded": checked.name,
        },
    )
    return target
