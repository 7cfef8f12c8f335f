"""The bureau's roster (INTERFACES.md): import, per-row rejections, upsert, status changes, on both databases."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from huiminbao.db import Database, migrate
from huiminbao.enrollment.models import InsuredPerson, Policy, PolicyEvent, PolicyStatus, Relation
from huiminbao.enrollment.roster import RosterError, mask_name
from huiminbao.enrollment.roster_store import ImportResult, Keys, import_roster
from huiminbao.identity import audit
from huiminbao.identity.certno import make_certno
from huiminbao.identity.phone import is_mobile, mask_phone, normalise_phone, redact_phones
from huiminbao.identity.pii import certno_hash, decrypt_certno, decrypt_text

KEYS = Keys(encrypt=bytes.fromhex("00112233445566778899aabbccddeeff"), hash=bytes.fromhex("11" * 16))
TODAY = date(2024, 3, 1)
A = make_certno("371502", date(1980, 1, 1), 1)
B = make_certno("371502", date(1990, 2, 2), 2)
C = make_certno("371521", date(2015, 7, 9), 3)
HEADER = "psn_no,certno,psn_name,gend,brdy,insutype,insu_admdvs,psn_insu_stas,psn_insu_date,populations"
GOOD = [
    f"P001,{A},张三,1,1980-01-01,310,371502,1,2010-01-01,",
    f"P002,{B},欧阳小明,2,1990-02-02,390,371502,1,2012-05-01,veteran",
    f"P003,{C},李小小,1,2015-07-09,390,371521,1,2015-08-01,poverty_alleviated;low_income",
]


@pytest.fixture
def db(db_url: str):
    migrate.upgrade(db_url)
    database = Database.from_url(db_url)
    yield database
    database.dispose()


def write(tmp_path: Path, lines: list[str], name: str = "roster.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def run(db: Database, path: Path, today: date = TODAY) -> ImportResult:
    with db.session() as s:
        return import_roster(session=s, path=path, keys=KEYS, actor=audit.CLI, today=today)


def report(result: ImportResult) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(result.report_csv.lstrip("\ufeff"))))


def test_import_then_reimport_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    first = run(db, path)
    assert first.summary() == {
        "rows": 3, "inserted": 3, "updated": 0, "unchanged": 0, "rejected": 0, "policies_changed": 0,
    }  # fmt: skip
    with db.session() as s:
        before = {p.psn_no: (p.id, p.certno_enc, p.updated_at) for p in s.scalars(sa.select(InsuredPerson))}
        p2 = s.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == "P002")).one()
        assert (p2.name_masked, p2.insutype, p2.population_tags) == ("欧***", "390", ("veteran",))
        assert decrypt_certno(p2.certno_enc, KEYS.encrypt) == B and p2.certno_hash == certno_hash(B, KEYS.hash)
        assert p2.name_enc is not None and decrypt_text(p2.name_enc, KEYS.encrypt) == "欧阳小明"
        p3 = s.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == "P003")).one()
        assert p3.populations == "low_income;poverty_alleviated" and p3.insu_status_date == date(2015, 8, 1)
    second = run(db, path)
    assert (second.inserted, second.updated, second.unchanged, second.rejected) == (0, 0, 3, 0)
    with db.session() as s:
        after = {p.psn_no: (p.id, p.certno_enc, p.updated_at) for p in s.scalars(sa.select(InsuredPerson))}
        assert after == before  # not even re-encrypted: nothing was written
        entries = s.scalars(sa.select(audit.AuditEntry).where(audit.AuditEntry.action == "roster.import")).all()
        assert len(entries) == 2 and '"inserted": 3' in (entries[0].after or "")


def test_a_changed_row_is_updated_in_place(db: Database, tmp_path: Path) -> None:
    run(db, write(tmp_path, GOOD))
    with db.session() as s:
        old = s.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == "P001")).one()
        key, created = old.id, old.created_at
    changed = [GOOD[0].replace(",310,371502,", ",390,371503,"), *GOOD[1:]]
    result = run(db, write(tmp_path, changed))
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 2)
    with db.session() as s:
        p = s.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == "P001")).one()
        assert (p.id, p.created_at, p.insutype, p.insu_admdvs) == (key, created, "390", "371503")


def test_bad_rows_are_reported_and_the_rest_imported(db: Database, tmp_path: Path) -> None:
    bad_digit = A[:17] + ("0" if A[17] != "0" else "1")
    lines = [
        *GOOD,  # lines 2-4
        f"P004,{bad_digit},王五,1,1980-01-01,390,371502,1,2010-01-01,",  # 5: check digit
        f"P005,{make_certno('371502', date(1970, 1, 1), 5)},赵六,1,1970-13-01,999,37150,3,2010-01-01,",  # 6
        GOOD[1].replace("欧阳小明", "欧阳大明"),  # 7: P002 again with different data
        GOOD[2],  # 8: an exact repeat of line 4: harmless
        f"P006,{C},钱七,1,2015-07-09,390,371521,1,2015-08-01,",  # 9: P003's ID number under another psn_no
        f"P007,{make_certno('371502', date(1960, 1, 1), 7)},孙八,9,1960-01-01,390,371502,1,bad,vip",  # 10
        f",{make_certno('371502', date(1961, 1, 1), 8)},,1,1961-01-01,390,371502,1,2010-01-01,",  # 11
    ]
    result = run(db, write(tmp_path, lines))
    rows = report(result)
    found = {(int(r["line"]), r["field"]) for r in rows}
    assert found == {
        (5, "certno"),
        (6, "brdy"), (6, "insutype"), (6, "insu_admdvs"), (6, "psn_insu_stas"),
        (3, "psn_no"), (7, "psn_no"),
        (4, "certno"), (8, "certno"), (9, "certno"),
        (10, "psn_insu_date"), (10, "populations"),
        (11, "psn_no"), (11, "psn_name"),
    } - {(8, "certno")}  # fmt: skip
    assert result.rejected == 8 and result.inserted == 1  # only P001 is clean
    assert all(r["reason"] for r in rows)
    assert A not in result.report_csv and bad_digit not in result.report_csv and "王五" not in result.report_csv
    assert (
        next(r for r in rows if r["line"] == "7")["reason"] == "同一人员编号在文件中出现多次且内容不同（首次在第 3 行）"
    )
    with db.session() as s:
        assert set(s.scalars(sa.select(InsuredPerson.psn_no))) == {"P001"}


def test_an_id_number_held_by_another_person_is_refused(db: Database, tmp_path: Path) -> None:
    run(db, write(tmp_path, GOOD))
    result = run(db, write(tmp_path, [f"P009,{A},张三,1,1980-01-01,310,371502,1,2010-01-01,"]))
    assert result.rejected == 1 and result.inserted == 0
    assert report(result) == [
        {"line": "2", "psn_no": "P009", "field": "certno", "reason": "该身份证号已登记在另一人员编号下"}
    ]


def _policy(db: Database, psn_no: str, plan_id: str = "liaocheng-2024") -> int:
    with db.session() as s:
        person = s.scalars(sa.select(InsuredPerson).where(InsuredPerson.psn_no == psn_no)).one()
        policy = Policy(
            policy_no=f"T{psn_no}", plan_id=plan_id, person_id=person.id, tier="standard", relation=Relation.SELF,
            premium_fen=8900, status=PolicyStatus.ACTIVE, status_date=date(2024, 1, 1),
            cover_start=date(2024, 1, 1), cover_end=date(2024, 12, 31), verify_code=f"V{psn_no}",
        )  # fmt: skip
        s.add(policy)
        s.flush()
        return policy.id


def test_basic_insurance_status_suspends_ends_and_resumes_policies(db: Database, tmp_path: Path) -> None:
    """Liaocheng 2024: 因故被暂停或终止基本医疗保险待遇的，同步暂停或终止"聊惠保"待遇."""
    run(db, write(tmp_path, GOOD))
    ids = {p: _policy(db, p) for p in ("P001", "P002", "P003")}
    suspended = [
        GOOD[0].replace(",1,2010-01-01,", ",2,2024-05-10,"),
        GOOD[1].replace(",1,2012-05-01,", ",4,2024-06-01,"),
        GOOD[2],
    ]
    result = run(db, write(tmp_path, suspended), today=date(2024, 6, 2))
    assert (result.updated, result.policies_changed) == (2, 2)
    with db.session() as s:
        got = {p: (s.get(Policy, i).status, s.get(Policy, i).status_date) for p, i in ids.items()}  # type: ignore[union-attr]
    assert got == {
        "P001": (PolicyStatus.SUSPENDED, date(2024, 5, 10)),
        "P002": (PolicyStatus.ENDED, date(2024, 6, 1)),
        "P003": (PolicyStatus.ACTIVE, date(2024, 1, 1)),
    }
    back = [
        GOOD[0].replace(",1,2010-01-01,", ",1,2024-07-01,"),
        GOOD[1].replace(",1,2012-05-01,", ",1,2024-07-01,"),
        GOOD[2],
    ]
    result = run(db, write(tmp_path, back), today=date(2024, 7, 2))
    assert result.policies_changed == 1  # the suspended one resumes; an ended policy stays ended
    with db.session() as s:
        assert s.get(Policy, ids["P001"]).status == PolicyStatus.ACTIVE  # type: ignore[union-attr]
        assert s.get(Policy, ids["P002"]).status == PolicyStatus.ENDED  # type: ignore[union-attr]
        events = s.execute(
            sa.select(PolicyEvent.policy_id, PolicyEvent.status, PolicyEvent.effective, PolicyEvent.reason).order_by(
                PolicyEvent.id
            )
        ).all()
    assert [(e[0], e[1], e[2]) for e in events] == [
        (ids["P001"], PolicyStatus.SUSPENDED, date(2024, 5, 10)),
        (ids["P002"], PolicyStatus.ENDED, date(2024, 6, 1)),
        (ids["P001"], PolicyStatus.ACTIVE, date(2024, 7, 1)),
    ]
    assert events[0][3] == "基本医保暂停参保，保障同步暂停"


def test_excel_and_bom_and_aliases(db: Database, tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "roster.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    header = [*HEADER.split(","), "remark"]  # unknown columns are ignored
    sheet.write_row(0, 0, header)
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    for r, line in enumerate(GOOD, start=1):
        values = line.split(",")
        sheet.write_row(r, 0, values)
        from datetime import datetime

        sheet.write_datetime(r, 4, datetime.fromisoformat(values[4]), day)  # a real Excel date
        sheet.write_number(r, 3, int(values[3]))  # a number, not text
    book.close()
    assert run(db, path).inserted == 3
    bom = tmp_path / "bom.csv"
    bom.write_bytes(("\ufeff" + HEADER.replace("brdy", "birth_date") + "\n" + "\n".join(GOOD) + "\n").encode())
    assert run(db, bom).unchanged == 3


def test_an_unreadable_roster_is_an_error_naming_the_file(db: Database, tmp_path: Path) -> None:
    with pytest.raises(RosterError, match=r"roster\.csv: 缺少列 psn_insu_stas, psn_insu_date"):
        run(db, write(tmp_path, [], header=HEADER.replace(",psn_insu_stas,psn_insu_date", "")))
    with pytest.raises(RosterError, match="名册应为"):
        run(db, write(tmp_path, GOOD, name="roster.json"))


def test_cli_roster_import_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huiminbao.cli.main import app
    from huiminbao.settings import get_settings

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("HMB_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        migrate.upgrade(url)
        path = write(tmp_path, [*GOOD, f"P009,{A[:-1]}0,王,1,1980-01-01,310,371502,1,2010-01-01,"])
        result = CliRunner().invoke(app, ["roster", "import", str(path), "--json"])
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert (out["inserted"], out["updated"], out["rejected"]) == (3, 0, 1)
        lines = Path(out["report"]).read_text(encoding="utf-8-sig").splitlines()
        assert lines[0] == "line,psn_no,field,reason" and lines[1].startswith("5,P009,certno,")
        result = CliRunner().invoke(app, ["roster", "import", str(path)])
        assert result.exit_code == 0 and "新增 0" in result.stdout and "未变 3" in result.stdout
        missing = CliRunner().invoke(app, ["roster", "import", str(tmp_path / "none.csv")])
        assert missing.exit_code != 0 and "none.csv" in missing.output
    finally:
        get_settings.cache_clear()


PHONE_HEADER = HEADER + ",phone"
PHONES = ("13812341234", "19900001111")
WITH_PHONES = [GOOD[0] + f",{PHONES[0]}", GOOD[1] + f",+86 {PHONES[1][:3]}-{PHONES[1][3:]}", GOOD[2] + ","]


def _phones(db: Database) -> dict[str, tuple[str | None, str | None]]:
    """psn_no -> (phone in clear, masked phone) as stored."""
    with db.session() as s:
        return {
            p.psn_no: (decrypt_text(p.phone_enc, KEYS.encrypt) if p.phone_enc else None, p.phone_masked)
            for p in s.scalars(sa.select(InsuredPerson))
        }


def test_the_optional_phone_column_is_stored_encrypted_and_masked(db: Database, tmp_path: Path) -> None:
    """A file with ``phone`` stores each given mobile (normalised: spaces, hyphens, +86 dropped) as SM4 and
    a masked form; an empty cell stores none; re-importing writes nothing."""
    result = run(db, write(tmp_path, WITH_PHONES, header=PHONE_HEADER))
    assert (result.inserted, result.rejected) == (3, 0)
    assert _phones(db) == {
        "P001": (PHONES[0], "138****1234"),
        "P002": (PHONES[1], "199****1111"),
        "P003": (None, None),
    }
    again = run(db, write(tmp_path, WITH_PHONES, header=PHONE_HEADER))
    assert (again.updated, again.unchanged) == (0, 3)


def test_files_without_phones_import_as_before_and_keep_stored_phones(db: Database, tmp_path: Path) -> None:
    """The column is optional: a file without it (or with the cell empty) imports, and re-importing what was
    there before the column existed changes nothing; it never erases a phone the platform holds, while a
    new number replaces the old one."""
    run(db, write(tmp_path, GOOD))
    assert run(db, write(tmp_path, [*GOOD[:2], GOOD[2] + ","], header=PHONE_HEADER)).unchanged == 3
    assert run(db, write(tmp_path, WITH_PHONES, header=PHONE_HEADER)).updated == 2
    moved = run(db, write(tmp_path, [GOOD[0].replace(",310,", ",390,"), *GOOD[1:]]))  # no phone column
    assert moved.updated == 2  # P001 changed; P002's content without its phone differs from the one with it
    assert _phones(db)["P001"] == (PHONES[0], "138****1234") and _phones(db)["P002"][0] == PHONES[1]
    run(db, write(tmp_path, [GOOD[0] + ",15600002222"], header=PHONE_HEADER))
    assert _phones(db)["P001"] == ("15600002222", "156****2222")


def test_a_bad_phone_rejects_the_row_with_line_and_field(db: Database, tmp_path: Path) -> None:
    lines = [
        GOOD[0] + ",1381234123",  # 2: ten digits
        GOOD[1] + ",12812341234",  # 3: 12x is no mobile prefix
        GOOD[2] + ",0635-8888888",  # 4: a landline
        f"P004,{make_certno('371502', date(1970, 1, 1), 5)},王五,1,1970-01-01,390,371502,1,2010-01-01,,17712345678",
    ]
    result = run(db, write(tmp_path, lines, header=PHONE_HEADER))
    rows = report(result)
    assert {(int(r["line"]), r["field"]) for r in rows} == {(2, "phone"), (3, "phone"), (4, "phone")}
    assert rows[0]["reason"] == "手机号应为 11 位数字，以 13 至 19 开头"
    assert (result.rejected, result.inserted) == (3, 1)
    for bad in ("1381234123", "12812341234", "0635-8888888"):
        assert bad not in result.report_csv
    assert _phones(db) == {"P004": ("17712345678", "177****5678")}


def test_phone_helpers() -> None:
    assert [normalise_phone(t) for t in ("138 1234 1234", "+8613812341234", "0086-138-1234-1234")] == [
        "13812341234"
    ] * 3
    assert [is_mobile(t) for t in ("13812341234", "19912341234", "12812341234", "1381234123", "138123412345")] == [
        True, True, False, False, False,
    ]  # fmt: skip
    assert mask_phone("13812341234") == "138****1234"
    assert redact_phones("拨打 13812341234，或 +8619912345678") == "拨打 138****1234，或 +86199****5678"
    assert redact_phones("110105194912310021 138123412345 order13812341234") == (
        "110105194912310021 138123412345 order13812341234"  # longer numbers and codes are not phones
    )


def test_no_clear_personal_data_in_the_database_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    migrate.upgrade(url)
    database = Database.from_url(url)
    run(database, write(tmp_path, WITH_PHONES, header=PHONE_HEADER))
    database.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("r.db*"))
    for secret in (A, B, C, "张三", "欧阳小明", "李小小", *PHONES):
        assert secret.encode() not in raw
    assert b"138****1234" in raw  # the masked form is what lists read


def test_mask_name() -> None:
    assert (mask_name("张三"), mask_name("李"), mask_name("")) == ("张*", "李*", "")
