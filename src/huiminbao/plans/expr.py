"""Plan expressions: a small, typed language over settlement, fee-line and person fields.

A plan writes a liability's base as ``max(inscp_scp_amt - fund_pay_sumamt, 0)`` or a
condition as ``startswith(med_type, '2') and not out_of_province``. The text is parsed
with Python's ``ast`` module (syntax only, never ``eval``) and checked node by node
against a whitelist; each name must be a field of the context the expression lives
in. A checked expression compiles to a Polars expression for the engine and to a
plain Python function for the reference adjudicator, so both read the same rules.

Types: ``money`` (int fen), ``int`` (counts such as age), ``bool``, ``str``, ``list`` (of str).
A number written in an expression takes the kind of what it meets: next to an amount it
is yuan and becomes fen; next to a count it stays a whole number.

Functions: ``max``/``min`` of amounts, ``startswith(code, 'prefix')``, ``in_catalog(code or
codes, 'catalog')``, and ``overlaps(codes, codes[, 'catalog'])``: two ICD-10 lists share a
three-character category (a stay's diagnoses and the person's pre-existing conditions, those
of a catalog only when one is named), which is how a plan says "costs related to a
pre-existing condition".
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from huiminbao.money import AmountError, to_fen

Kind = Literal["money", "int", "num", "bool", "str", "list"]
CatalogMatcher = Callable[[str], bool]


class ExprError(ValueError):
    """An expression that does not parse or does not type-check; the message, in Chinese, says where."""


KIND_WORDS: dict[Kind, str] = {
    "money": "金额",
    "int": "整数",
    "num": "数字",
    "bool": "条件（真或假）",
    "str": "代码（文字）",
    "list": "代码列表",
}
# Python's syntax errors (English) by a phrase of theirs, in words an actuary editing a plan follows
_SYNTAX_WORDS = (
    ("was never closed", "括号没有闭合"),
    ("unmatched", "括号不配对"),
    ("does not match opening", "括号不配对"),
    ("unterminated", "引号没有闭合"),
    ("EOF", "表达式不完整"),
    ("null bytes", "含有空字符"),
    ("invalid character", "含有无效的字符"),
    ("invalid non-printable", "含有无效的字符"),
    ("literal", "数字或文字的写法有误"),
    ("indent", "缩进有误"),
)
# syntax a plan expression may not use, in words (ratios and factors are plan settings, not arithmetic)
_NODE_WORDS = {
    "Attribute": "属性访问（a.b）",
    "Subscript": "下标（a[0]）",
    "Mult": "乘法（比例和系数写在方案设置中）",
    "Div": "除法（比例和系数写在方案设置中）",
    "FloorDiv": "整除",
    "Mod": "取余",
    "Pow": "乘方",
    "Lambda": "lambda 函数",
    "IfExp": "条件表达式（x if c else y）",
    "Dict": "映射（{}）",
    "Set": "集合（{}）",
    "Is": "is 比较（请用 ==）",
    "IsNot": "is not 比较（请用 !=）",
    "NamedExpr": "赋值（:=）",
    "JoinedStr": "f 字符串",
}


def _quoted(text: str) -> str:
    return f"“{text}”"


def _node_words(node: ast.AST) -> str:
    name = type(node).__name__
    return _NODE_WORDS.get(name, f"{name} 语法")


def _syntax_error(text: str, exc: SyntaxError) -> ExprError:
    what = next((zh for en, zh in _SYNTAX_WORDS if en in (exc.msg or "")), "语法有误")
    where = f"第 {exc.offset} 个字符附近" if exc.offset else ""
    return ExprError(f"表达式 {_quoted(text)} 无法解析：{where}{what}")


@dataclass(frozen=True)
class Node:
    """A checked expression node: an operator, its kind and its operands."""

    op: str
    kind: Kind
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Catalogs:
    """What an expression may ask of catalogs: membership, with codes or ICD-10 ranges."""

    codes: Mapping[str, tuple[str, ...]]
    ranges: Mapping[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Expr:
    """A parsed, type-checked expression with its source text and the names it reads."""

    text: str
    root: Node
    fields: frozenset[str]

    @property
    def kind(self) -> Kind:
        return self.root.kind


_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_FUNCS = {"max", "min", "startswith", "in_catalog", "overlaps"}


def parse(text: str, names: Mapping[str, Kind], catalogs: set[str] | None = None) -> Expr:
    """Parse and type-check ``text``; ``names`` maps each field the context offers to its kind."""
    try:
        tree = ast.parse(str(text).strip(), mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(str(text), exc) from exc
    used: set[str] = set()
    root = _check(tree.body, names, catalogs or set(), used, str(text))
    root = coerce(root, "money", lambda m: ExprError(f"表达式 {_quoted(str(text))}：{m}"))
    return Expr(text=str(text), root=root, fields=frozenset(used))


_ALLOWED_NODES = (
    ast.Expression, ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.BoolOp, ast.And, ast.Or,
    ast.UnaryOp, ast.Not, ast.USub, ast.BinOp, ast.Add, ast.Sub, ast.Compare, ast.Eq, ast.NotEq, ast.Lt,
    ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Call,
)  # fmt: skip


def check_syntax(text: str) -> str:
    """Syntax and whitelist only (no field names): used while a plan file is parsed, so that every
    bad expression is reported together with the file's other errors."""
    try:
        tree = ast.parse(str(text).strip(), mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(str(text), exc) from exc
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExprError(f"表达式 {_quoted(text)} 中不能使用{_node_words(node)}")
        if isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS):
            raise ExprError(f"表达式 {_quoted(text)} 中只能调用函数 {'、'.join(sorted(_FUNCS))}")
    return text


def _check(n: ast.AST, names: Mapping[str, Kind], cats: set[str], used: set[str], src: str) -> Node:
    def fail(msg: str) -> ExprError:
        return ExprError(f"表达式 {_quoted(src)}：{msg}")

    def sub(x: ast.AST) -> Node:
        return _check(x, names, cats, used, src)

    if isinstance(n, ast.Name):
        if n.id in ("True", "False"):
            return Node("const", "bool", (n.id == "True",))
        if n.id not in names:
            raise fail(f"未知字段 {n.id}（此处可用：{'、'.join(sorted(names))}）")
        used.add(n.id)
        return Node("field", names[n.id], (n.id,))
    if isinstance(n, ast.Constant):
        if isinstance(n.value, bool):
            return Node("const", "bool", (n.value,))
        if isinstance(n.value, str):
            return Node("const", "str", (n.value,))
        if isinstance(n.value, int | float):
            return Node("const", "num", (n.value,))
        raise fail(f"不能使用常量 {n.value!r}")
    if isinstance(n, ast.List | ast.Tuple):
        items = [sub(e) for e in n.elts]
        if any(i.op != "const" or i.kind != "str" for i in items):
            raise fail("列表中只能写带引号的代码")
        return Node("const", "list", (tuple(i.args[0] for i in items),))
    if isinstance(n, ast.BoolOp):
        parts = [sub(v) for v in n.values]
        if any(p.kind != "bool" for p in parts):
            raise fail("and、or 两边都应为条件")
        return Node("and" if isinstance(n.op, ast.And) else "or", "bool", tuple(parts))
    if isinstance(n, ast.UnaryOp):
        x = sub(n.operand)
        if isinstance(n.op, ast.USub) and x.kind == "num":
            return Node("const", "num", (-x.args[0],))
        if isinstance(n.op, ast.Not) and x.kind == "bool":
            return Node("not", "bool", (x,))
        if isinstance(n.op, ast.USub) and x.kind == "money":
            return Node("neg", "money", (x,))
        raise fail("只能对条件用 not，对金额或数字用负号")
    if isinstance(n, ast.BinOp):
        a, b = _unify(sub(n.left), sub(n.right), fail)
        if isinstance(n.op, ast.Add | ast.Sub) and a.kind == b.kind and a.kind in ("money", "int"):
            return Node("+" if isinstance(n.op, ast.Add) else "-", a.kind, (a, b))
        raise fail(f"只能在两个金额（或两个整数）之间加减，这里是{KIND_WORDS[a.kind]}与{KIND_WORDS[b.kind]}")
    if isinstance(n, ast.Compare):
        if len(n.ops) != 1:
            raise fail("不能连写比较（如 a < b < c），请用 and 连接")
        a, b = _unify(sub(n.left), sub(n.comparators[0]), fail)
        op = n.ops[0]
        if isinstance(op, ast.In | ast.NotIn):
            if b.kind != "list" or a.kind not in ("str", "list"):
                raise fail("in 的左边应为代码或代码列表，右边应为列表")
            node = Node("in", "bool", (a, b))
            return Node("not", "bool", (node,)) if isinstance(op, ast.NotIn) else node
        if type(op) not in _CMP:
            raise fail(f"不能使用{_node_words(op)}")
        if a.kind != b.kind or a.kind not in ("money", "int", "str", "bool"):
            raise fail(f"不能比较{KIND_WORDS[a.kind]}与{KIND_WORDS[b.kind]}")
        return Node(_CMP[type(op)], "bool", (a, b))
    if isinstance(n, ast.Call):
        if not isinstance(n.func, ast.Name) or n.func.id not in _FUNCS or n.keywords:
            raise fail(f"只能调用函数 {'、'.join(sorted(_FUNCS))}（参数不带名字）")
        args = [sub(a) for a in n.args]
        fn = n.func.id
        if fn in ("max", "min"):
            kinds = {a.kind for a in args} - {"num"}
            kind = kinds.pop() if len(kinds) == 1 else None
            if len(args) < 2 or kind not in ("money", "int"):
                raise fail(f"{fn}() 需要两个或以上的金额（或整数）")
            return Node(fn, kind, tuple(coerce(a, kind, fail) for a in args))
        if fn == "startswith":
            if len(args) != 2 or args[0].kind != "str" or args[1].op != "const" or args[1].kind != "str":
                raise fail("startswith(字段, '前缀') 需要一个代码字段和一个带引号的前缀")
            return Node("startswith", "bool", (args[0], args[1].args[0]))
        if fn == "overlaps":
            lists = len(args) in (2, 3) and args[0].kind == "list" and args[1].kind == "list"
            if not lists or (len(args) == 3 and (args[2].op != "const" or args[2].kind != "str")):
                raise fail("overlaps(代码列表, 代码列表[, '目录编号']) 需要两个 ICD-10 代码列表，目录编号加引号")
            cat = args[2].args[0] if len(args) == 3 else None
            if cat is not None and cat not in cats:
                raise fail(f"未声明的目录 {cat}（已声明：{'、'.join(sorted(cats)) or '无'}）")
            return Node("overlaps", "bool", (args[0], args[1], cat))
        # in_catalog
        if len(args) != 2 or args[0].kind not in ("str", "list") or args[1].op != "const":
            raise fail("in_catalog(字段, '目录编号') 需要一个代码字段和一个带引号的目录编号")
        cat = args[1].args[0]
        if cat not in cats:
            raise fail(f"未声明的目录 {cat}（已声明：{'、'.join(sorted(cats)) or '无'}）")
        return Node("in_catalog", "bool", (args[0], cat))
    raise fail(f"不能使用{_node_words(n)}")


def coerce(x: Node, kind: Kind, fail: Callable[[str], ExprError]) -> Node:
    """Give a written number the kind it is used as: yuan become fen, counts stay whole."""
    if x.kind != "num":
        return x
    value = x.args[0]
    if kind == "money":
        try:
            return Node("const", "money", (to_fen(value),))
        except (AmountError, ArithmeticError) as exc:
            raise fail(f"{value!r} 不是有效的金额（以元为单位，至多两位小数）") from exc
    if kind == "int" and float(value).is_integer():
        return Node("const", "int", (int(value),))
    raise fail(f"数字 {value!r} 不能当作{KIND_WORDS[kind]}")


def _unify(a: Node, b: Node, fail: Callable[[str], ExprError]) -> tuple[Node, Node]:
    if a.kind == "num" and b.kind == "num":
        return coerce(a, "money", fail), coerce(b, "money", fail)
    return coerce(a, b.kind, fail), coerce(b, a.kind, fail)


# --- Polars backend -------------------------------------------------------------------------


def to_polars(e: Expr, catalogs: Catalogs, fields: Mapping[str, pl.Expr] | None = None) -> pl.Expr:
    """Compile to a Polars expression over the columns of the same names; ``fields`` may stand
    other expressions in for some of them (the engine passes settlement amounts less what
    fee-line liabilities already claimed)."""
    return _pl(e.root, catalogs, fields or {})


def _code_match_pl(x: pl.Expr, cat: str, catalogs: Catalogs) -> pl.Expr:
    hit = pl.lit(False)
    codes = catalogs.codes.get(cat, ())
    if codes:
        hit = x.is_in(list(codes))
    for lo, hi in catalogs.ranges.get(cat, ()):
        norm = x.str.to_uppercase().str.replace_all(".", "", literal=True).str.slice(0, len(lo))
        hit = hit | norm.is_between(pl.lit(lo), pl.lit(hi))
    return hit.fill_null(False)


def _category_pl(codes: pl.Expr) -> pl.Expr:
    """ICD-10 codes as their three-character categories (C34.1 -> C34)."""
    return codes.list.eval(pl.element().str.to_uppercase().str.replace_all(".", "", literal=True).str.slice(0, 3))


def _overlaps_pl(left: pl.Expr, right: pl.Expr, cat: str | None, cats: Catalogs) -> pl.Expr:
    if cat is not None:  # only the right-hand codes the catalog holds
        right = right.list.eval(pl.element().filter(_code_match_pl(pl.element(), cat, cats)))
    common = _category_pl(left.fill_null([])).list.set_intersection(_category_pl(right.fill_null([])))
    return (common.list.len() > 0).fill_null(False)


def _pl(n: Node, cats: Catalogs, p: Mapping[str, pl.Expr]) -> pl.Expr:
    op, a = n.op, n.args
    if op == "field":
        return p[a[0]] if a[0] in p else pl.col(a[0])
    if op == "const":
        return pl.lit(list(a[0])) if n.kind == "list" else pl.lit(a[0])
    if op in ("and", "or"):
        out = _pl(a[0], cats, p)
        for x in a[1:]:
            out = (out & _pl(x, cats, p)) if op == "and" else (out | _pl(x, cats, p))
        return out
    if op == "not":
        return ~_pl(a[0], cats, p)
    if op == "neg":
        return -_pl(a[0], cats, p)
    if op in ("+", "-"):
        left, right = _pl(a[0], cats, p), _pl(a[1], cats, p)
        return left + right if op == "+" else left - right
    if op in ("max", "min"):
        parts = [_pl(x, cats, p) for x in a]
        return pl.max_horizontal(parts) if op == "max" else pl.min_horizontal(parts)
    if op in _CMP.values():
        left, right = _pl(a[0], cats, p), _pl(a[1], cats, p)
        return {
            "==": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op].fill_null(False)
    if op == "startswith":
        return _pl(a[0], cats, p).str.starts_with(a[1]).fill_null(False)
    if op == "in":
        left, listed = a
        if listed.op != "const":  # 'poverty_lifted' in populations: a code in a list field
            return _pl(listed, cats, p).list.contains(_pl(left, cats, p)).fill_null(False)
        values = list(listed.args[0])
        if left.kind == "list":
            return _pl(left, cats, p).list.eval(pl.element().is_in(values)).list.any().fill_null(False)
        return _pl(left, cats, p).is_in(values).fill_null(False)
    if op == "overlaps":
        return _overlaps_pl(_pl(a[0], cats, p), _pl(a[1], cats, p), a[2], cats)
    if op == "in_catalog":
        left, cat = a
        if left.kind == "list":
            inner = _code_match_pl(pl.element(), cat, cats)
            return _pl(left, cats, p).list.eval(inner).list.any().fill_null(False)
        return _code_match_pl(_pl(left, cats, p), cat, cats)
    raise ExprError(f"无法编译运算 {op}")  # pragma: no cover - _check rejects it first


# --- Python backend (reference adjudicator) --------------------------------------------------


def code_in_catalog(code: str | None, cat: str, catalogs: Catalogs) -> bool:
    """Plain-Python catalog membership with the same rules as the Polars backend."""
    if code is None:
        return False
    if code in catalogs.codes.get(cat, ()):
        return True
    norm = code.upper().replace(".", "")
    return any(lo <= norm[: len(lo)] <= hi for lo, hi in catalogs.ranges.get(cat, ()))


def _categories(codes: Any) -> set[str]:
    return {str(c).upper().replace(".", "")[:3] for c in codes or ()}


def evaluate(e: Expr, row: Mapping[str, Any], catalogs: Catalogs) -> Any:
    """Evaluate on one record (a mapping of field to value) the way the engine does on a frame."""
    return _py(e.root, row, catalogs)


def _py(n: Node, row: Mapping[str, Any], cats: Catalogs) -> Any:
    op, a = n.op, n.args
    if op == "field":
        return row.get(a[0])
    if op == "const":
        return a[0]
    if op == "and":
        return all(_py(x, row, cats) for x in a)
    if op == "or":
        return any(_py(x, row, cats) for x in a)
    if op == "not":
        return not _py(a[0], row, cats)
    if op in ("neg", "+", "-"):  # a missing amount (an optional field not given) stays missing, as in Polars
        vals = [_py(x, row, cats) for x in a]
        if any(v is None for v in vals):
            return None
        return -vals[0] if op == "neg" else vals[0] + vals[1] if op == "+" else vals[0] - vals[1]
    if op in ("max", "min"):  # like Polars' max/min_horizontal: missing values are left out
        vals = [v for v in (_py(x, row, cats) for x in a) if v is not None]
        return (max(vals) if op == "max" else min(vals)) if vals else None
    if op in _CMP.values():
        left, right = _py(a[0], row, cats), _py(a[1], row, cats)
        if left is None or right is None:
            return False
        return {
            "==": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]
    if op == "startswith":
        value = _py(a[0], row, cats)
        return value is not None and value.startswith(a[1])
    if op == "in":
        value = _py(a[0], row, cats)
        if a[1].op != "const":
            return value in (_py(a[1], row, cats) or ())
        values = a[1].args[0]
        if a[0].kind == "list":
            return any(v in values for v in (value or ()))
        return value in values
    if op == "overlaps":
        right = [c for c in _py(a[1], row, cats) or () if a[2] is None or code_in_catalog(c, a[2], cats)]
        return bool(_categories(_py(a[0], row, cats)) & _categories(right))
    if op == "in_catalog":
        value, cat = _py(a[0], row, cats), a[1]
        if a[0].kind == "list":
            return any(code_in_catalog(v, cat, cats) for v in (value or ()))
        return code_in_catalog(value, cat, cats)
    raise ExprError(f"无法计算运算 {op}")  # pragma: no cover


def is_sum_of_fields(e: Expr) -> bool:
    """True when the expression is ``f1 + f2 + ...``: the only form a fee-line base may take,
    so that the part of a settlement a line liability claims is exactly those fields."""

    def walk(n: Node) -> bool:
        return n.op == "field" or (n.op == "+" and all(walk(x) for x in n.args))

    return walk(e.root)
