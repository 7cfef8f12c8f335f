"""Chain-ladder IBNR: the same numbers as the ``chainladder`` package on its sample triangles, a triangle
small enough to compute by hand, the file's errors by line and field, and ``hmb ibnr``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from huiminbao.cli.main import app
from huiminbao.supervision.ibnr import TriangleError, chain_ladder, read_csv

runner = CliRunner()
# cumulative paid triangles among the package's samples (a column where the sample holds several)
SAMPLES = [("raa", None), ("abc", None), ("genins", None), ("ukmotor", None), ("mw2014", None),
           ("m3ir5", None), ("usaa", "paid"), ("quarterly", "paid")]  # fmt: skip
SMALL = "origin,development,value\n2022,1,100\n2022,2,150\n2022,3,165\n2023,1,120\n2023,2,170\n2024,1,110.5\n"


def sample_csv(name: str, column: str | None) -> tuple[str, object]:
    """The package's sample as an ``origin,development,value`` file, and the sample itself."""
    cl = pytest.importorskip("chainladder")
    tri = cl.load_sample(name)
    tri = tri[column] if column else tri
    frame = tri.to_frame(keepdims=True).dropna()
    value = frame.columns[-1]
    rows = [f"{o.date()},{int(d)},{v!r}" for o, d, v in zip(frame["origin"], frame["development"], frame[value], strict=True)]  # fmt: skip
    return "origin,development,value\n" + "\n".join(rows) + "\n", tri


@pytest.mark.filterwarnings("ignore:Parsing integer or float values")  # inside chainladder, pandas 3
@pytest.mark.parametrize(("name", "column"), SAMPLES)
def test_agrees_with_chainladder_on_its_samples(name, column):
    cl = pytest.importorskip("chainladder")
    text, tri = sample_csv(name, column)
    ours = chain_ladder(read_csv(text)[0])
    dev = cl.Development(average="volume").fit(tri)
    theirs = cl.Chainladder().fit(dev.transform(tri))

    def close(a, b):
        return np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float).ravel(), rtol=1e-3)

    close(ours.factors, dev.ldf_.values)
    close(ours.cdf[:-1], dev.cdf_.values)
    close(ours.ultimate, theirs.ultimate_.values)
    close(ours.ibnr, np.nan_to_num(theirs.ibnr_.values.ravel()))
    close(ours.ultimate.sum(), np.nansum(theirs.ultimate_.values))
    close(ours.ibnr.sum(), np.nansum(theirs.ibnr_.values))


def test_a_small_triangle_by_hand():
    result = chain_ladder(read_csv(SMALL)[0])
    # f(1->2) = (150 + 170) / (100 + 120) = 320 / 220; f(2->3) = 165 / 150 = 1.1; cdf(1) = 1.6
    assert result.factors.tolist() == pytest.approx([320 / 220, 1.1])
    assert result.cdf.tolist() == pytest.approx([1.6, 1.1, 1.0])
    assert result.ultimate.tolist() == pytest.approx([165, 187, 176.8])
    assert result.ibnr.tolist() == pytest.approx([0, 17, 66.3])


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("origin,value\n2022,1\n", 1, "development"),
        ("origin,development,value\n2022,1,abc\n", 2, "value"),
        ("origin,development,value\n2022,1,1\n2022,x,2\n", 3, "development"),
        ("origin,development,value\n2022,1,1\n,2,2\n", 3, "origin"),
        ("origin,development,value\n2022,1,1\n2022,2,2\n2022,1,3\n", 4, "development"),
        ("origin,development,value\n2022,1,1\n2022,3,2\n2023,1,1\n2023,2,2\n", 3, "development"),
        ("origin,development,value\n", 1, None),
        ("origin,development,value\n2022,²,1\n", 2, "development"),
        ("origin,development,value\n2022,1,1e400\n", 2, "value"),
    ],
    ids=[
        "missing column",
        "not a number",
        "bad age",
        "empty origin",
        "duplicate",
        "hole",
        "no rows",
        "superscript",
        "overflow",
    ],
)
def test_file_errors_name_the_line_and_field(text, line, field):
    with pytest.raises(TriangleError) as err:
        read_csv(text)
    assert (err.value.line, err.value.field) == (line, field)


def test_a_falling_cumulative_value_is_a_warning_not_an_error():
    _, warnings = read_csv("origin,development,value\n2022,1,100\n2022,2,90\n")
    assert len(warnings) == 1 and warnings[0].startswith("第 3 行")


def test_cli_prints_tables_and_json(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text(SMALL, encoding="utf-8")
    text = runner.invoke(app, ["ibnr", str(path)])
    assert text.exit_code == 0, text.output
    assert "逐期发展因子" in text.stdout and "1.454545" in text.stdout and "83.30" in text.stdout
    out = json.loads(runner.invoke(app, ["ibnr", str(path), "--json"]).stdout)
    assert out["total"] == {"latest": "445.50", "ultimate": "528.80", "ibnr": "83.30"}
    assert out["rows"][2] == {"origin": "2024", "age": 1, "latest": "110.50", "cdf": 1.6, "ultimate": "176.80", "ibnr": "66.30"}  # fmt: skip
    assert out["triangle"][2] == ["110.50", None, None] and out["warnings"] == []


def test_cli_refuses_a_bad_file_in_one_line(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("origin,development,value\n2022,1,abc\n", encoding="utf-8")
    res = runner.invoke(app, ["ibnr", str(path)])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"{path}：第 2 行 value：金额应为数字，而不是“abc”"
    assert runner.invoke(app, ["ibnr", str(tmp_path / "none.csv")]).exit_code == 2


CELL = st.sampled_from(["2022", "2023", "", "x", "1", "0", "-1", "1.5", "1e400", "nan", "２", "²", "10", " 3 "])


@given(st.lists(st.lists(CELL, min_size=0, max_size=4), max_size=8), st.sampled_from(["origin,development,value", "value,origin,development", "origin,value"]))  # fmt: skip
def test_any_file_is_read_or_refused_by_line(rows, header):
    """Whatever the cells, the reader answers a triangle whose method gives finite numbers, or a TriangleError."""
    text = header + "\n" + "\n".join(",".join(r) for r in rows)
    try:
        triangle, _ = read_csv(text)
    except TriangleError as err:
        assert 1 <= err.line <= len(rows) + 1
        return
    result = chain_ladder(triangle)
    assert np.isfinite(result.ultimate).all() and np.isfinite(result.factors).all()
