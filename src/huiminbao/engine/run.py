"""Which Polars engine runs a lazy query: chosen once per call by the size of its input.

Polars 2 runs ``collect()`` on the streaming engine by default, which keeps a whole year's peak
memory down but costs several milliseconds of set-up per query; on the few rows of a one-stop
batch or an estimate the in-memory engine answers the same query in a third to a half of the time
(measured: the engine on one record, 23 -> 17 ms with explanations). Results do not depend on the
engine, only time and memory do. The choice lives in a context variable, so concurrent calls in
threads or tasks each keep their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import polars as pl
from polars._typing import EngineType

SMALL = 100_000  # inputs up to this many rows run in memory; larger ones stream
_SMALL: ContextVar[bool] = ContextVar("small_input", default=False)


def collect(lf: pl.LazyFrame, large: EngineType = "auto") -> pl.DataFrame:
    """Run ``lf`` in memory inside a ``sized`` block for a small input, else on ``large``."""
    return lf.collect(engine="in-memory" if _SMALL.get() else large)


@contextmanager
def sized(rows: int) -> Iterator[None]:
    """Within this block, queries run in memory when the call's input has at most ``SMALL`` rows."""
    token = _SMALL.set(rows <= SMALL)
    try:
        yield
    finally:
        _SMALL.reset(token)
