"""Catalogs a plan refers to: drugs, institutions, pre-existing conditions (ICD-10).

Catalogs are data files of their own, each marked official or illustrative: the seeds
name "25 specific high-cost drugs" without listing them, so a catalog we had to make
up says so, and a plan built on it is flagged too.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

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
