"""Catalogs a plan refers to: drugs, institutions, pre-existing conditions (ICD-10).

Catalogs are data files of their own, each marked official or illustrative: the seeds
name "25 specific high-cost drugs" without listing them, so a catalog we had to make
up says so, and a plan built on it is flagged too.

A catalog is checked field by field in Chinese (``check_catalog``) before the model sees it,
because administrators upload these files from the bureau's lists: each bad code, duplicate,
missing field or unknown kind is named by its field (``entries[3].code``) or spreadsheet row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationError

from huiminbao.plans.messages import problems as problems_of
from huiminbao.plans.schema import PlanStatus, Strict


class CatalogKind(StrEnum):
    DRUG = "drug"  # national medical list codes (med_list_codg)
    INSTITUTION = "institution"  # fixmedins_code
    ICD10 = "icd10"  # disease codes; entries may be ranges "C00-C97" or prefixes "E11"


class CatalogEntry(Strict):
    code: str = Field(min_length=1)
    name: str | None = None


class Catalog(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    name: str
    kind: CatalogKind
    status: PlanStatus
    status_note: str | None = None
    cite: str | None = None
    entries: tuple[CatalogEntry, ...] = Field(min_length=1)

    def codes(self) -> tuple[str, ...]:
        """Exact codes (drug and institution catalogs)."""
        return () if self.kind is CatalogKind.ICD10 else tuple(e.code for e in self.entries)

    def ranges(self) -> tuple[tuple[str, str], ...]:
        """ICD-10 entries as inclusive (low, high) prefixes, dots removed, upper case."""
        if self.kind is not CatalogKind.ICD10:
            return ()
        out = []
        for e in self.entries:
            lo, _, hi = e.code.upper().replace(".", "").partition("-")
            hi = hi or lo
            if len(lo) != len(hi):
                raise ValueError(f"ICD-10 range {e.code!r}: both ends need the same length")
            out.append((lo, hi))
        return tuple(out)


KIND_LABELS = {CatalogKind.DRUG: "药品", CatalogKind.INSTITUTION: "医药机构", CatalogKind.ICD10: "疾病（ICD-10）"}
STATUS_LABELS = {
    PlanStatus.OFFICIAL: "正式文件",
    PlanStatus.NEWS: "新闻稿",
    PlanStatus.FROM_QA: "问答页整理",
    PlanStatus.ILLUSTRATIVE: "示意数据",
}
_ICD = r"[A-Z]\d{2}(?:\.?[0-9A-Z]{1,4})?"
CODE_RULES: dict[CatalogKind, tuple[re.Pattern[str], str]] = {
    CatalogKind.DRUG: (re.compile(r"[0-9A-Za-z]{1,50}"), "药品编码（med_list_codg）应为 1 至 50 位字母或数字"),
    CatalogKind.INSTITUTION: (
        re.compile(r"[0-9A-Za-z]{1,30}"),
        "医药机构编号（fixmedins_code）应为 1 至 30 位字母或数字",
    ),
    CatalogKind.ICD10: (
        re.compile(f"{_ICD}(?:-{_ICD})?"),
        "ICD-10 编码应为一个字母加两位数字（如 E11、C34.9），或两端位数相同的范围（如 C00-C97）",
    ),
}
ID_PATTERN = re.compile(r"[a-z][a-z0-9_-]*")
HEAD_FIELDS = ("id", "name", "kind", "status", "status_note", "cite", "entries")
Problems = list[tuple[str, str]]


def entry_field(i: int, key: str = "") -> str:
    """How a YAML file names its i-th entry (and a field of it); a spreadsheet names its row instead."""
    return f"entries[{i}]" + (f".{key}" if key else "")


def normal_code(kind: CatalogKind, code: str) -> str:
    """The form two codes are compared in: ICD-10 without dots and in upper case, others as written."""
    return code.upper().replace(".", "") if kind is CatalogKind.ICD10 else code


def _text(data: dict[str, Any], key: str, where: str, problems: Problems, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            problems.append((where, "缺少此字段"))
        return None
    if not isinstance(value, str):
        problems.append((where, "应为文字（数字或日期请加引号）"))
        return None
    return value


def _code_problem(kind: CatalogKind, code: str) -> str | None:
    pattern, message = CODE_RULES[kind]
    if not pattern.fullmatch(code.upper() if kind is CatalogKind.ICD10 else code):
        return f"“{code[:40]}”不合规：{message}"
    if kind is CatalogKind.ICD10 and "-" in code:
        lo, hi = (part.replace(".", "") for part in code.upper().split("-"))
        if len(lo) != len(hi):
            return f"范围“{code}”两端的位数应相同"
        if lo > hi:
            return f"范围“{code}”的起点大于终点"
    return None


def check_catalog(data: Any, file: str, *, row: Callable[[int, str], str] = entry_field) -> Catalog:
    """The catalog in ``data``, or a PlanError listing every problem in Chinese by field or row."""
    from huiminbao.plans.loader import PlanError  # the loader imports this module

    if not isinstance(data, dict):
        raise PlanError(file, [("", "目录文件应为一个 YAML 映射（id、name、kind、status、entries …）")])
    problems: Problems = []
    for key in data:
        if key not in HEAD_FIELDS:
            problems.append((str(key), f"未知字段（可用字段：{'、'.join(HEAD_FIELDS)}）"))
    cid = _text(data, "id", "id", problems, required=True)
    if cid is not None and not ID_PATTERN.fullmatch(cid):
        problems.append(("id", "目录编号应以小写字母开头，只含小写字母、数字、- 和 _"))
    _text(data, "name", "name", problems, required=True)
    for key in ("status_note", "cite"):
        _text(data, key, key, problems, required=False)
    kind_text = _text(data, "kind", "kind", problems, required=True)
    kind = None
    if kind_text is not None:
        try:
            kind = CatalogKind(kind_text)
        except ValueError:
            known = "、".join(f"{k.value}（{label}）" for k, label in KIND_LABELS.items())
            problems.append(("kind", f"未知目录类型“{kind_text[:40]}”，应为 {known}"))
    status = _text(data, "status", "status", problems, required=True)
    if status is not None and status not in {s.value for s in PlanStatus}:
        known = "、".join(f"{s.value}（{label}）" for s, label in STATUS_LABELS.items())
        problems.append(("status", f"未知状态“{status[:40]}”，应为 {known}"))
    entries = data.get("entries")
    if not isinstance(entries, list) or not entries:
        problems.append(("entries", "缺少条目：应为至少一条 {code, name} 的列表"))
        entries = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append((row(i, ""), "每个条目应为 {code, name} 映射"))
            continue
        for key in entry:
            if key not in ("code", "name"):
                problems.append((row(i, str(key)), "未知字段（条目只有 code 和 name）"))
        code = _text(entry, "code", row(i, "code"), problems, required=True)
        _text(entry, "name", row(i, "name"), problems, required=False)
        if code is None or kind is None:
            continue
        bad = _code_problem(kind, code)
        if bad is not None:
            problems.append((row(i, "code"), bad))
            continue
        first = seen.setdefault(normal_code(kind, code), i)
        if first != i:
            problems.append((row(i, "code"), f"“{code}”与 {row(first, '')} 重复"))
    if problems:
        raise PlanError(file, problems)
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:  # the checks above should leave nothing for the model to refuse
        raise PlanError(file, problems_of(exc)) from exc
