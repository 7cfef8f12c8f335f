"""Each role sees persons as it may: a resident only their own record, staff the ID number, name and phone
masked unless they reveal them (audited), supervisors counts only, small cells suppressed."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from huiminbao.enrollment.models import InsuredPerson
from huiminbao.identity.certno import make_certno
from huiminbao.identity.models import AuditEntry
from huiminbao.identity.pii import encrypt_certno, encrypt_text


def roster(client: TestClient, counts: dict[tuple[str, str], int]) -> dict[str, str]:
    """Insured persons P0.. in (area, insurance type) cells of the given sizes; returns psn_no -> certno."""
    key = client.app.state.settings.pii_key_bytes
    out: dict[str, str] = {}
    with client.app.state.db.session() as s:
        for (area, kind), n in counts.items():
            for _ in range(n):
                k = len(out)
                certno = make_certno(area, date(1960, 1, 1), k + 1)
                psn_no = f"P{k}"
                out[psn_no] = certno
                s.add(
                    InsuredPerson(
                        psn_no=psn_no, certno_hash=f"{k:064d}", certno_enc=encrypt_certno(certno, key),
                        content_hash="", name_masked="张*", gender="1", birth_date=date(1960, 1, 1), insutype=kind, insu_admdvs=area,
                    )
                )  # fmt: skip
    return out


def test_a_resident_reads_only_their_own_record(client: TestClient, sign_in: Any) -> None:
    certnos = roster(client, {("371502", "390"): 2})
    me = client.get("/api/v1/persons/me", headers=sign_in("resident", psn_no="P1")).json()
    assert me["psn_no"] == "P1" and me["certno"] == certnos["P1"][:6] + "********" + certnos["P1"][-4:]
    other = client.get("/api/v1/persons/P0", headers=sign_in("resident", psn_no="P1"))
    assert other.status_code == 403  # a resident has no look-up of other people
    unknown = client.get("/api/v1/persons/me", headers=sign_in("resident", psn_no="P9"))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "person_not_found")


def test_staff_see_the_id_masked_and_in_clear_only_on_request_which_is_audited(
    client: TestClient, sign_in: Any
) -> None:
    certnos = roster(client, {("371502", "310"): 1})
    headers = sign_in("clerk")
    masked = client.get("/api/v1/persons/P0", headers=headers).json()
    assert masked["certno"] != certnos["P0"] and masked["certno"].startswith(certnos["P0"][:6])
    with client.app.state.db.session() as s:
        before = s.scalar(
            sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "person.reveal_certno")
        )
    clear = client.get("/api/v1/persons/P0", params={"reveal": "true"}, headers=headers).json()
    assert clear["certno"] == certnos["P0"]
    with client.app.state.db.session() as s:
        entries = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "person.reveal_certno")).all()
    assert before == 0 and [(e.actor, e.entity_id) for e in entries] == [("clerk-1", "P0")]
    assert certnos["P0"] not in (entries[0].after or "")  # the audit says who looked, not what they saw


def test_supervisors_see_counts_with_small_cells_suppressed(client: TestClient, sign_in: Any) -> None:
    roster(client, {("371502", "390"): 12, ("371502", "310"): 3})
    cells = client.get("/api/v1/supervision/insured", headers=sign_in("supervisor")).json()
    assert cells == [
        {"insu_admdvs": "371502", "insutype": "310", "persons": None, "suppressed": True},
        {"insu_admdvs": "371502", "insutype": "390", "persons": 12, "suppressed": False},
    ]
    assert client.get("/api/v1/persons/P0", headers=sign_in("supervisor")).status_code == 403  # no personal rows


def test_name_and_phone_are_masked_and_revealed_only_in_the_audited_view(client: TestClient, sign_in: Any) -> None:
    certnos = roster(client, {("371502", "390"): 2})
    key = client.app.state.settings.pii_key_bytes
    with client.app.state.db.session() as s:
        p0 = s.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == "P0")).one()
        p0.name_enc, p0.phone_enc, p0.phone_masked = (
            encrypt_text("张三丰", key),
            encrypt_text("13812341234", key),
            "138****1234",
        )
    headers = sign_in("adjuster")
    masked = client.get("/api/v1/persons/P0", headers=headers).json()
    assert (masked["name"], masked["phone"]) == ("张*", "138****1234")
    assert client.get("/api/v1/persons/P1", headers=headers).json()["phone"] is None  # no phone known
    me = client.get("/api/v1/persons/me", headers=sign_in("resident", psn_no="P0")).json()
    assert (me["name"], me["phone"]) == ("张*", "138****1234")
    clear = client.get("/api/v1/persons/P0", params={"reveal": "true"}, headers=headers).json()
    assert (clear["certno"], clear["name"], clear["phone"]) == (certnos["P0"], "张三丰", "13812341234")
    with client.app.state.db.session() as s:
        entry = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "person.reveal_certno")).one()
    assert (entry.actor, entry.role, entry.entity_id) == ("adjuster-1", "adjuster", "P0")
    assert entry.after == '{"shown": ["certno", "name", "phone"]}'  # which fields, never their values
