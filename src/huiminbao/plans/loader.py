"""Loading plan files: parse, validate, cross-check, compile the expressions once.

Every error names the file and the field path (``tiers[0].liabilities[2].base``) and says in
Chinese what is wrong (pydantic's own errors through ``messages``), so an actuary editing a plan
sees what to fix without reading code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from huiminbao.money import BP, bp_to_percent
from huiminbao.plans import expr as E
from huiminbao.plans import messages as M
from huiminbao.plans.catalog import KIND_LABELS, Catalog, CatalogKind, check_catalog
from huiminbao.plans.schema import Amount, Consortium, Liability, Plan, Tier
from huiminbao.vocabulary import (
    CLAIMED_FROM,
    FEE_LINE_SCHEMA,
    INSCP_SELFPAY,
    OPTIONAL_AMOUNTS,
    SETTLEMENT_AMOUNTS,
    SETTLEMENT_SCHEMA,
)

DATA_DIR = Path(__file__).parent / "data"
CATALOG_DIR = Path(__file__).parent / "catalogs"
TESTS_SUFFIX = ".tests.yaml"  # a plan's worked examples beside it (plans/data/<id>.tests.yaml), not a plan

PERSON_NAMES: dict[str, E.Kind] = {
    "insutype": "str",
    "age": "int",  # whole years at the start of cover
    "preexisting": "list",
    "populations": "list",
    "tier": "str",
}
_SETTLEMENT_KINDS: dict[str, E.Kind] = {
    name: (
        "money" if name in SETTLEMENT_AMOUNTS or name in OPTIONAL_AMOUNTS else "list" if name == "diseases" else "str"
    )
    for name in SETTLEMENT_SCHEMA
    if name not in ("begndate", "enddate", "setl_time", "out_area_filed")
}
SETTLEMENT_NAMES: dict[str, E.Kind] = {
    **_SETTLEMENT_KINDS,
    "prescriber": "str",  # rx_fixmedins_code, or fixmedins_code when the record does not name a prescriber
    "out_area_filed": "bool",
    "out_of_city": "bool",  # care outside the insured person's city (first 4 digits of admdvs differ)
    "out_of_province": "bool",  # care outside the province (first 2 digits differ)
    **PERSON_NAMES,
}
LINE_NAMES: dict[str, E.Kind] = {
    **{name: ("str" if dtype.is_(FEE_LINE_SCHEMA["setl_id"]) else "money") for name, dtype in FEE_LINE_SCHEMA.items()},
    INSCP_SELFPAY: "money",
}


class PlanError(ValueError):
    """A plan or catalog file that does not validate; ``problems`` are (field path, message)."""

    def __init__(self, file: str, problems: list[tuple[str, str]]):
        self.file = file
        self.problems = problems
        lines = [f"{file}: {path or '(top)'}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


class PlanNotFound(KeyError):
    def __str__(self) -> str:
        return f"没有方案 {self.args[0]}（已有：{'、'.join(p.id for p in list_plans())}）"


class PlanIncomplete(ValueError):
    """The plan lacks a figure needed to adjudicate (the source does not give it)."""


@dataclass(frozen=True)
class Rule:
    """A compiled conditional rule: the first whose condition holds gives its value."""

    when: E.Expr
    value: int  # an amount in fen, a ratio or factor in basis points; 0 for an exclusion
    label: str | None  # the condition in words for people; an exclusion's reason


@dataclass(frozen=True)
class CompiledLiability:
    spec: Liability
    when: E.Expr | None
    requires: tuple[Rule, ...]  # label: the requirement's reason
    lines: E.Expr | None
    base: E.Expr
    counting: tuple[Rule, ...]
    exclusions: tuple[Rule, ...]
    ratios: tuple[Rule, ...]
    deductible_rules: tuple[Rule, ...]  # the liability's own deductible by person (empty when shared)


@dataclass(frozen=True)
class CompiledTier:
    spec: Tier
    assign: E.Expr | None  # person condition that puts someone in this tier automatically
    liabilities: tuple[CompiledLiability, ...]  # in the file's order
    deductible_rules: dict[str, tuple[Rule, ...]]  # shared deductible id -> its rules by person

    def liability(self, liability_id: str) -> CompiledLiability:
        return next(x for x in self.liabilities if x.spec.id == liability_id)


@dataclass(frozen=True)
class Compiled:
    """A validated plan with its expressions parsed and its catalogs loaded."""

    plan: Plan
    file: str
    catalogs: E.Catalogs
    catalog_files: dict[str, Catalog]
    tiers: tuple[CompiledTier, ...]

    def tier(self, tier_id: str | None = None) -> CompiledTier:
        spec = self.plan.tier(tier_id)
        return next(t for t in self.tiers if t.spec is spec)

    @property
    def fields(self) -> frozenset[str]:
        """Every field name the plan's expressions read."""
        out: set[str] = set()
        for t in self.tiers:
            if t.assign is not None:
                out |= t.assign.fields
            for rules in t.deductible_rules.values():
                out |= {f for r in rules for f in r.when.fields}
            for x in t.liabilities:
                out |= {f for e in (x.when, x.lines, x.base) if e is not None for f in e.fields}
                for r in (*x.requires, *x.counting, *x.exclusions, *x.ratios, *x.deductible_rules):
                    out |= r.when.fields
        return frozenset(out)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PlanError(str(path), [("", M.yaml_message(exc))]) from exc
    except (ValueError, OSError) as exc:  # ValueError: not UTF-8, or a date YAML cannot construct
        raise PlanError(str(path), [("", M.read_message(exc))]) from exc


def load_catalog(path: Path) -> Catalog:
    """One catalog file, checked field by field (``catalog.check_catalog``)."""
    return check_catalog(_read_yaml(path), str(path))


def catalog_dirs() -> list[Path]:
    """Where a plan's ``catalogs.*.file`` is looked for: the operator's ``HMB_PLANS_DIR/catalogs``
    (where uploaded catalogs go), then the packaged catalogs."""
    extra = os.environ.get("HMB_PLANS_DIR")
    return ([Path(extra) / "catalogs"] if extra else []) + [CATALOG_DIR]


def catalog_path(file: str) -> Path:
    """The catalog file in force under that name (the operator's before the packaged one)."""
    for d in catalog_dirs():
        if (d / file).exists():
            return d / file
    return CATALOG_DIR / file


# which catalog kind a field's codes are: a plan asking whether a drug code is in an ICD-10 list is wrong
CATALOG_FIELD_KINDS = {
    "med_list_codg": CatalogKind.DRUG,
    "fixmedins_code": CatalogKind.INSTITUTION,
    "rx_fixmedins_code": CatalogKind.INSTITUTION,
    "prescriber": CatalogKind.INSTITUTION,
    "diseases": CatalogKind.ICD10,
    "preexisting": CatalogKind.ICD10,
}


def _catalog_uses(node: E.Node) -> list[tuple[str, CatalogKind]]:
    """Each catalog an expression asks of, with the kind its question needs."""
    out = []
    if node.op == "overlaps" and node.args[2] is not None:
        out.append((node.args[2], CatalogKind.ICD10))
    elif node.op == "in_catalog" and node.args[0].op == "field" and node.args[0].args[0] in CATALOG_FIELD_KINDS:
        out.append((node.args[1], CATALOG_FIELD_KINDS[node.args[0].args[0]]))
    for arg in node.args:
        if isinstance(arg, E.Node):
            out += _catalog_uses(arg)
    return out


def load_plan_file(path: str | Path, *, catalogs: Mapping[str, Catalog] | None = None) -> Compiled:
    """Load one plan file; raise PlanError naming the file and every bad field. ``catalogs`` (by file
    name) stand in for the files in force: how a catalog upload is tried on the plans that use it."""
    path = Path(path)
    return _validated(_read_yaml(path), path, catalogs or {})


def load_plan_text(text: str, name: str, *, catalogs: Mapping[str, Catalog] | None = None) -> Compiled:
    """A plan given as YAML text (a candidate pasted on a page or sent to the API), validated exactly as a
    plan file; errors name ``name`` as the file."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(name, [("", M.yaml_message(exc))]) from exc
    except ValueError as exc:  # a date YAML cannot construct
        raise PlanError(name, [("", M.read_message(exc))]) from exc
    return _validated(data, Path(name), catalogs or {})


def _validated(data: Any, path: Path, catalogs: Mapping[str, Catalog]) -> Compiled:
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(str(path), M.problems(exc)) from exc
    return _compile(plan, path, catalogs)


def _compile(plan: Plan, path: Path, given: Mapping[str, Catalog]) -> Compiled:
    problems: list[tuple[str, str]] = []
    catalog_files: dict[str, Catalog] = {}
    for cid, ref in plan.catalogs.items():
        if Path(ref.file).name != ref.file:
            problems.append((f"catalogs.{cid}.file", f"目录只写文件名，不带文件夹：{M.shown(ref.file)}"))
            continue
        try:
            catalog_files[cid] = given.get(ref.file) or load_catalog(catalog_path(ref.file))
        except PlanError as exc:
            found = "；".join(f"{where}：{msg}" if where else msg for where, msg in exc.problems)
            problems.append((f"catalogs.{cid}.file", f"目录文件 {ref.file} 不能使用：{found}"))
    cats = set(catalog_files)
    exprs: dict[str, E.Expr] = {}

    def check(where: str, text: str | None, names: dict[str, E.Kind], kind: str) -> None:
        if text is None:
            return
        try:
            e = E.parse(text, names, cats)
        except E.ExprError as exc:
            problems.append((where, str(exc)))
            return
        if e.kind != kind:
            problems.append((where, f"应为{E.KIND_WORDS[kind]}，而“{text}”是{E.KIND_WORDS[e.kind]}"))
            return
        exprs[where] = e

    def amount(where: str, a: Amount | None, shared: set[str]) -> None:
        if a is None:
            return
        if a.shared is not None and a.shared not in shared:
            problems.append((f"{where}.shared", f"本档次的 deductibles 中没有 {M.shown(a.shared)}"))
        for k, rule in enumerate(a.rules):
            check(f"{where}.rules[{k}].when", rule.when, PERSON_NAMES, "bool")

    if plan.cover.start is None:
        problems.append(("cover.start", "保障期间缺少起始日期"))
    if plan.default_tier and plan.default_tier not in {t.id for t in plan.tiers}:
        problems.append(("default_tier", f"没有编号为 {M.shown(plan.default_tier)} 的档次"))
    for ti, tier in enumerate(plan.tiers):
        tp = f"tiers[{ti}]"
        shared = {d.id for d in tier.deductibles}
        for di, d in enumerate(tier.deductibles):
            for k, rule in enumerate(d.rules):
                check(f"{tp}.deductibles[{di}].rules[{k}].when", rule.when, PERSON_NAMES, "bool")
            if (d.amount is None) == (d.unknown is None):
                problems.append((f"{tp}.deductibles[{di}]", "amount 和 unknown（写明原因）应给且只给一个"))
        check(f"{tp}.assign", tier.assign, PERSON_NAMES, "bool")
        ids = [liab.id for liab in tier.liabilities]
        if len(set(ids)) != len(ids):
            problems.append((f"{tp}.liabilities", "责任编号（id）不能重复"))
        if tier.precedence and sorted(tier.precedence) != sorted(ids):
            problems.append((f"{tp}.precedence", f"应把每项责任各列一次：{'、'.join(ids)}"))
        for li, liab in enumerate(tier.liabilities):
            lp = f"{tp}.liabilities[{li}]"
            check(f"{lp}.when", liab.when, SETTLEMENT_NAMES, "bool")
            for k, req in enumerate(liab.requires):
                check(f"{lp}.requires[{k}].when", req.when, SETTLEMENT_NAMES, "bool")
            if liab.lines is not None:
                check(f"{lp}.lines", liab.lines, LINE_NAMES, "bool")
                check(f"{lp}.base", liab.base, LINE_NAMES, "money")
                base = exprs.get(f"{lp}.base")
                if base is not None and not E.is_sum_of_fields(base):
                    problems.append((f"{lp}.base", "按费用明细（lines）赔付时，base 只能是费用明细金额字段之和"))
                elif base is not None and len({CLAIMED_FROM[f] for f in base.fields}) < len(base.fields):
                    problems.append((f"{lp}.base", "其中有两个字段属于同一项结算金额，会重复计算"))
            else:
                check(f"{lp}.base", liab.base, SETTLEMENT_NAMES, "money")
            for k, rule in enumerate(liab.counting):
                check(f"{lp}.counting[{k}].when", rule.when, SETTLEMENT_NAMES, "bool")
            for k, exc in enumerate(liab.exclusions):
                check(f"{lp}.exclusions[{k}].when", exc.when, SETTLEMENT_NAMES, "bool")
            for k, rule in enumerate(liab.ratio.rules):
                check(f"{lp}.ratio.rules[{k}].when", rule.when, SETTLEMENT_NAMES, "bool")
            amount(f"{lp}.deductible", liab.deductible, shared)
            amount(f"{lp}.limit", liab.limit, shared)
            if liab.limit is not None and liab.limit.shared is not None:
                problems.append((f"{lp}.limit.shared", "额度不能共享；请使用档次的 overall_limit"))
        amount(f"{tp}.overall_limit", tier.overall_limit, set())
    for where, e in exprs.items():
        for cid, kind in _catalog_uses(e.root):
            have = catalog_files[cid].kind
            if have is not kind:
                problems.append((where, f"目录 {cid} 是{KIND_LABELS[have]}目录，“{e.text}”需要{KIND_LABELS[kind]}目录"))
    problems += _consortium_problems(plan.consortium)
    if problems:
        raise PlanError(str(path), problems)
    catalogs = E.Catalogs(
        codes={cid: c.codes() for cid, c in catalog_files.items()},
        ranges={cid: c.ranges() for cid, c in catalog_files.items()},
    )
    tiers = tuple(_typed_tier(tier, f"tiers[{ti}]", exprs) for ti, tier in enumerate(plan.tiers))
    return Compiled(plan=plan, file=str(path), catalogs=catalogs, catalog_files=catalog_files, tiers=tiers)


def _consortium_problems(consortium: Consortium) -> list[tuple[str, str]]:
    """What no single member can be checked for: unique codes, exactly one lead, shares summing to 100%."""
    problems = []
    seen: dict[str, int] = {}
    for k, m in enumerate(consortium.members):
        if m.insurer_code in seen:
            where = f"consortium.members[{k}].insurer_code"
            problems.append((where, f"保险公司代码 {m.insurer_code} 与 members[{seen[m.insurer_code]}] 重复"))
        seen.setdefault(m.insurer_code, k)
    leads = [k for k, m in enumerate(consortium.members) if m.lead]
    if not leads:
        problems.append(("consortium.members", "应有且只有一家主承保机构（lead: true），现在没有"))
    for k in leads[1:]:
        problems.append((f"consortium.members[{k}].lead", f"members[{leads[0]}] 已是主承保机构，只能有一家"))
    total = sum(m.share for m in consortium.members)
    if total != BP:
        problems.append(("consortium.members", f"各成员份额（share）之和应为 100%，现为 {bp_to_percent(total)}"))
    return problems


def _typed_tier(tier: Tier, tp: str, exprs: dict[str, E.Expr]) -> CompiledTier:
    """The tier's checked expressions, reached by attribute instead of by field path."""

    def rules(where: str, items: tuple[Any, ...], value: str, label: str = "label") -> tuple[Rule, ...]:
        return tuple(
            Rule(exprs[f"{where}[{k}].when"], int(getattr(r, value, 0) or 0), getattr(r, label))
            for k, r in enumerate(items)
        )

    liabilities = []
    for li, liab in enumerate(tier.liabilities):
        lp = f"{tp}.liabilities[{li}]"
        liabilities.append(
            CompiledLiability(
                spec=liab,
                when=exprs.get(f"{lp}.when"),
                requires=rules(f"{lp}.requires", liab.requires, "", "reason"),
                lines=exprs.get(f"{lp}.lines"),
                base=exprs[f"{lp}.base"],
                counting=rules(f"{lp}.counting", liab.counting, "factor"),
                exclusions=rules(f"{lp}.exclusions", liab.exclusions, "", "reason"),
                ratios=rules(f"{lp}.ratio.rules", liab.ratio.rules, "ratio"),
                deductible_rules=rules(f"{lp}.deductible.rules", liab.deductible.rules, "amount"),
            )
        )
    return CompiledTier(
        spec=tier,
        assign=exprs.get(f"{tp}.assign"),
        liabilities=tuple(liabilities),
        deductible_rules={
            d.id: rules(f"{tp}.deductibles[{di}].rules", d.rules, "amount") for di, d in enumerate(tier.deductibles)
        },
    )


def missing_figures(plan: Plan, tier: Tier) -> list[str]:
    """Field paths of figures the source does not give, with the reason, for this tier."""
    ti = plan.tiers.index(tier)
    out = []
    for d in tier.deductibles:
        if d.unknown is not None:
            out.append(f"tiers[{ti}].deductibles[{d.id}]: {d.unknown}")
    for li, liab in enumerate(tier.liabilities):
        for what, a in (("deductible", liab.deductible), ("limit", liab.limit)):
            if a is not None and a.unknown is not None:
                out.append(f"tiers[{ti}].liabilities[{li}].{what} ({liab.id}): {a.unknown}")
    if tier.overall_limit is not None and tier.overall_limit.unknown is not None:
        out.append(f"tiers[{ti}].overall_limit: {tier.overall_limit.unknown}")
    return out


def require_known(compiled: Compiled, tier: Tier) -> None:
    """Refuse to adjudicate on a plan whose source leaves a needed figure out, rather than guess."""
    gaps = []
    for d in tier.deductibles:
        if d.unknown is not None:
            gaps.append(f"{d.name}：{d.unknown}")
    for liab in tier.liabilities:
        for what, a in (("免赔额", liab.deductible), ("年度限额", liab.limit)):
            if a is not None and a.unknown is not None:
                gaps.append(f"{liab.name}的{what}：{a.unknown}")
    if tier.overall_limit is not None and tier.overall_limit.unknown is not None:
        gaps.append(f"年度累计赔付限额：{tier.overall_limit.unknown}")
    if gaps:
        raise PlanIncomplete(
            f"方案 {compiled.plan.id}（{tier.name}）缺少原文未给出的数字，不能用于理算——" + "；".join(gaps)
        )


def plan_dirs() -> list[Path]:
    """Packaged plans, plus an operator's folder named by HMB_PLANS_DIR (checked first)."""
    extra = os.environ.get("HMB_PLANS_DIR")
    return ([Path(extra)] if extra else []) + [DATA_DIR]


def _catalog_stamp() -> tuple[tuple[str, int], ...]:
    """The operator's catalog files and their times: a compiled plan is reused only while its
    catalogs are unchanged, in every server process (an upload in one process is seen by all)."""
    extra = catalog_dirs()[:-1]
    if not extra or not extra[0].is_dir():
        return ()
    return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in extra[0].glob("*.yaml")))


@cache
def _load_cached(path: str, mtime: float, catalogs: tuple[tuple[str, int], ...]) -> Compiled:
    return load_plan_file(path)


def _cached(path: Path) -> Compiled:
    return _load_cached(str(path), path.stat().st_mtime, _catalog_stamp())


def compiled_plan(plan_id: str) -> Compiled:
    for d in plan_dirs():
        path = d / f"{plan_id}.yaml"
        if path.exists():
            return _cached(path)
    raise PlanNotFound(plan_id)


def load_plan(plan_id: str) -> Plan:
    return compiled_plan(plan_id).plan


def plan_files() -> dict[str, Path]:
    """Each plan id's file in force (the operator's folder before the packaged plans)."""
    seen: dict[str, Path] = {}
    for d in plan_dirs():
        for path in sorted(d.glob("*.yaml")):
            if not path.name.endswith(TESTS_SUFFIX):
                seen.setdefault(path.stem, path)
    return seen


def list_plans() -> list[Plan]:
    plans = [_cached(path).plan for path in plan_files().values()]
    return sorted(plans, key=lambda p: (p.city, p.year, p.id))


def underwritten_by(insurer_code: str | None) -> frozenset[str]:
    """The ids of the plans whose consortium has this insurer among its members (none without a code)."""
    if not insurer_code:
        return frozenset()
    return frozenset(p.id for p in list_plans() if insurer_code in p.consortium.codes)
