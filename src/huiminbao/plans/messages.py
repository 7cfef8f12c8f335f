"""Problems with a data file in plain Chinese: pydantic's own errors translated by their type.

Plan, catalog, worked-example and calendar files are validated by pydantic models, and pydantic
words its errors in English ("Field required"). The people who fix these files are operators and
actuaries who read Chinese, so each error's ``type`` (stable across pydantic versions, unlike its
text) picks a Chinese template filled from the error's ``ctx`` and ``input``. A type without a
template still gets a Chinese sentence naming the type: no English sentence reaches them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

SHOWN_CHARS = 40  # a value quoted back is cut to this many characters: enough to find it in the file

_LIST = "应为列表（每项一行，以 - 开头），实际为 {input}"
_MAPPING = "应为映射（字段: 值），实际为 {input}"
_DATE = "应为日期，写作 年-月-日（如 2024-01-01），实际为 {input}"
_DATETIME = "应为日期时间，写作 年-月-日 时:分:秒（如 2024-01-01 08:00:00），实际为 {input}"
_NUMBER = "应为数字，实际为 {input}"

TEMPLATES: dict[str, str] = {
    "missing": "缺少此字段",
    "extra_forbidden": "不认识的字段（拼写有误，或放错了层级）",
    "int_type": "应为整数，实际为 {input}",
    "int_parsing": "应为整数，实际为 {input}",
    "int_from_float": "应为整数，不能带小数，实际为 {input}",
    "int_parsing_size": "整数超出范围：{input}",
    "float_type": _NUMBER,
    "float_parsing": _NUMBER,
    "decimal_type": _NUMBER,
    "decimal_parsing": _NUMBER,
    "finite_number": "应为有限的数字，实际为 {input}",
    "string_type": "应为文字（数字或日期写作文字时请加引号），实际为 {input}",
    "string_sub_type": "应为文字，实际为 {input}",
    "string_unicode": "应为合法的 Unicode 文字",
    "string_too_short": "至少应有 {min_length} 个字符",
    "string_too_long": "至多 {max_length} 个字符，实际为 {input}",
    "string_pattern_mismatch": "格式不对：{pattern}，实际为 {input}",
    "bool_type": "应为 true 或 false，实际为 {input}",
    "bool_parsing": "应为 true 或 false，实际为 {input}",
    "date_type": _DATE,
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": "应为日期，不能带时刻，实际为 {input}",
    "date_past": "应为过去的日期",
    "date_future": "应为将来的日期",
    "datetime_type": _DATETIME,
    "datetime_parsing": _DATETIME,
    "datetime_from_date_parsing": _DATETIME,
    "time_type": "应为时刻，写作 时:分:秒（如 08:00:00），实际为 {input}",
    "time_parsing": "应为时刻，写作 时:分:秒（如 08:00:00），实际为 {input}",
    "enum": "应为 {expected} 之一，实际为 {input}",
    "literal_error": "应为 {expected} 之一，实际为 {input}",
    "list_type": _LIST,
    "tuple_type": _LIST,
    "set_type": _LIST,
    "frozen_set_type": _LIST,
    "iterable_type": _LIST,
    "too_short": "至少应有 {min_length} 项，实际为 {actual_length} 项",
    "too_long": "至多 {max_length} 项，实际为 {actual_length} 项",
    "dict_type": _MAPPING,
    "model_type": _MAPPING,
    "model_attributes_type": _MAPPING,
    "dataclass_type": _MAPPING,
    "greater_than": "应大于 {gt}，实际为 {input}",
    "greater_than_equal": "应不小于 {ge}，实际为 {input}",
    "less_than": "应小于 {lt}，实际为 {input}",
    "less_than_equal": "应不大于 {le}，实际为 {input}",
    "multiple_of": "应为 {multiple_of} 的整数倍，实际为 {input}",
    "none_required": "此处应为空",
    "union_tag_invalid": "{discriminator} 应为 {expected_tags} 之一，实际为 {tag}",
    "union_tag_not_found": "缺少用来区分种类的字段 {discriminator}",
    "json_invalid": "不是合法的 JSON",
}
"""Chinese sentences by pydantic error type; ``{input}`` is the value as found, the others are its ``ctx``."""

PATTERN_WORDS: dict[str, str] = {
    r"^[a-z][a-z0-9-]{0,63}$": "应以小写字母开头，只含小写字母、数字和 -，至多 64 个字符",
    r"^[a-z][a-z0-9_]*$": "应以小写字母开头，只含小写字母、数字和 _",
    r"^[a-z][a-z0-9_-]*$": "应以小写字母开头，只含小写字母、数字、- 和 _",
    r"^\d{6}$": "应为 6 位数字",
    r"^[A-Za-z0-9][A-Za-z0-9_-]{0,29}$": "应以字母或数字开头，只含字母、数字、- 和 _，至多 30 个字符",
}
"""The field patterns of the data files in words; a pattern not listed is shown as written."""


def shown(value: Any) -> str:
    """A value found in a file, quoted back short enough to read in one line."""
    if value is None:
        return "空值"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if not value:
            return "空文字"
        return f"“{value[:SHOWN_CHARS]}{'…' if len(value) > SHOWN_CHARS else ''}”"
    if isinstance(value, Mapping):
        return "一个映射"
    if isinstance(value, list | tuple | set | frozenset):
        return "一个列表"
    if isinstance(value, int | float | date | datetime):
        return str(value)[:SHOWN_CHARS]
    return f"“{str(value)[:SHOWN_CHARS]}”"


def choices(expected: str) -> str:
    """Pydantic's "'a', 'b' or 'c'" as 「a、b 或 c」."""
    items = re.findall(r"'([^']*)'", expected)
    if not items:
        return expected
    return items[0] if len(items) == 1 else "、".join(items[:-1]) + " 或 " + items[-1]


def has_cjk(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


def _own(error: ErrorDetails) -> str:
    """A validator's own message (ValueError or assert), without pydantic's English prefix."""
    raised = (error.get("ctx") or {}).get("error")
    text = str(raised) if raised is not None else re.sub(r"^(Value|Assertion) error, ", "", error["msg"])
    return text if has_cjk(text) else f"取值不合规（校验说明：“{text[:200]}”）"


_CTX: dict[str, Callable[[Any], str]] = {
    "expected": choices,
    "expected_tags": choices,
    "pattern": lambda p: PATTERN_WORDS.get(str(p), f"应符合格式 {p}"),
}


def error_message(error: ErrorDetails) -> str:
    """One pydantic error as a Chinese sentence."""
    kind = error["type"]
    if kind in ("value_error", "assertion_error"):
        return _own(error)
    template = TEMPLATES.get(kind)
    if template is not None:
        ctx = {k: _CTX.get(k, str)(v) for k, v in (error.get("ctx") or {}).items()}
        try:
            return template.format(**ctx, input=shown(error.get("input")))
        except (KeyError, IndexError):  # a pydantic version whose ctx lacks a key: say what is known
            pass
    return f"取值不合规（校验类型 {kind}），实际为 {shown(error.get('input'))}"


def field_path(loc: tuple[Any, ...]) -> str:
    """An error's location as a file's field path, ``tiers[0].liabilities[2].base``; the names pydantic
    gives its own validator steps (``function-before[...]``) are not fields and are left out."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith("function-"):
            out += ("." if out else "") + str(part)
    return out


def problems(exc: ValidationError) -> list[tuple[str, str]]:
    """Every error of a validation as (field path, Chinese message)."""
    return [(field_path(tuple(e["loc"])), error_message(e)) for e in exc.errors()]


YAML_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("could not find expected ':'", "缺少冒号（:）"),
    ("mapping values are not allowed", "不能在此处写「键: 值」（冒号或缩进有误）"),
    ("cannot start any token", "含有不能出现在此处的字符（缩进请用空格，不要用制表符）"),
    ("expected <block end>", "缩进不一致"),
    ("did not find expected key", "缩进不一致，或缺少键"),
    ("did not find expected '-'", "列表项缩进不一致"),
    ("expected ',' or ']'", "方括号内缺少逗号或右方括号"),
    ("expected ',' or '}'", "花括号内缺少逗号或右花括号"),
    ("unexpected end of stream", "文件意外结束（引号或括号没有闭合）"),
    ("unknown escape character", "引号内有无效的转义字符"),
    ("did not find expected node content", "缺少内容"),
    ("unhashable key", "键不能是列表或映射"),
    ("could not determine a constructor", "含有不支持的标记（!…）"),
    ("expected a single document", "只能有一个文档（不要用 --- 分隔）"),
    ("undefined alias", "引用了未定义的锚点（*…）"),
    ("special characters are not allowed", "含有不允许的控制字符"),
)
"""PyYAML's problems (English phrases) in Chinese, matched by a phrase of the problem."""


def yaml_message(exc: Exception) -> str:
    """A YAML file that does not parse: where, and what is wrong in words an editor of the file follows."""
    problem = str(getattr(exc, "problem", None) or exc)
    what = next((zh for en, zh in YAML_PROBLEMS if en in problem), "语法有误")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"第 {mark.line + 1} 行第 {mark.column + 1} 列附近" if mark is not None else ""
    return f"不是合法的 YAML：{where}{what}"


def read_message(exc: Exception) -> str:
    """A file that cannot be read, or whose bytes are not UTF-8 text or hold a date YAML cannot make."""
    if isinstance(exc, UnicodeDecodeError):
        return f"文件应为 UTF-8 编码（第 {exc.start + 1} 个字节起无法解码）"
    if isinstance(exc, FileNotFoundError):
        return "找不到文件"
    if isinstance(exc, PermissionError):
        return "没有读取此文件的权限"
    if isinstance(exc, IsADirectoryError):
        return "这是一个文件夹，不是文件"
    if isinstance(exc, OSError):
        return f"无法读取文件（错误号 {exc.errno}）"
    return "含有无法识别的值（如不存在的日期 2024-02-30）"
