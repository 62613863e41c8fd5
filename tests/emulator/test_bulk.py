"""The column-wise import (:mod:`saleslayer_airflow.emulator.bulk`) writes what the row-by-row
importer writes: the same answers, stored items (fields and links as SQLite holds them, key order
included) and changelog, on seeded random calls of one table whose rows share their fields (the
calls it takes), including calls it must hand back to the row path."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from saleslayer_airflow.emulator import bulk, importer, storage
from saleslayer_airflow.emulator.form_fast import ColumnForm, parse_columns
from saleslayer_airflow.emulator.settings import EmulatorSettings
from saleslayer_airflow.emulator.storage import Storage
from saleslayer_airflow.emulator.tenant import Tenant, load_tenant
from tests.emulator.conftest import Api, php_form, sign

TEXTS = ("a", "Ab c", "é €", 'q"\\', "x+y&z=1", "50%", "line\nbreak", "0", "", "", "a,b", ",")
CONNECTORS = ("CN123TEST", "CN123TEST", "CN123TEST", "CNEXISTING", "CNOVERWRITE")

# Columns a row of each table may have (beyond its reference), as clients name them.
COLUMNS = {
    "catalogue": ["cat_title", "cat_title_en", "cat_title_es", "cat_description_fr", "cat_image",
                  "cat_parent_ref", "cat_stat"],
    "products": ["prod_title_en", "prod_title_es", "prod_title", "prod_description_en",
                 "prod_image", "prod_tags", "prod_price", "cat_ref", "prod_brand", "prod_stat",
                 "prod_unknown"],
    "product_formats": ["prod_ref", "size", "color_en", "color_fr", "frmt_price", "frmt_ean",
                        "frmt_image", "frmt_stat"],
    "brands": ["brand_title_en", "brand_website", "brand_logo"],
}  # fmt: skip
REF = {"catalogue": "cat_ref", "products": "prod_ref", "product_formats": "frmt_ref",
       "brands": "brand_ref"}  # fmt: skip
LINKS = {"cat_parent_ref": "C", "cat_ref": "C", "prod_brand": "B", "prod_ref": "P"}
PREFIX = {"catalogue": "C", "products": "P", "product_formats": "F", "brands": "B"}


def _cell(rng: random.Random, column: str, odd: set[str]) -> str:
    if column in LINKS:
        refs = [f"{LINKS[column]}{rng.randrange(6)}" for _ in range(rng.choice((1, 1, 1, 2)))]
        if "link" in odd and rng.random() < 0.2:
            return rng.choice(("", ",", "NOWHERE", f"{refs[0]},{LINKS[column]}1"))
        return ",".join(refs) if column == "cat_ref" else refs[0]
    if column.endswith("_stat"):
        return "X" if "status" in odd and rng.random() < 0.3 else rng.choice(("V", "I", "D", "R"))
    return rng.choice(TEXTS if "empty" in odd else TEXTS[:8])


def _call(rng: random.Random) -> tuple[str, ColumnForm]:
    """One call of one table; each call may hold a few odd things (each alone, most often)."""
    table = rng.choice(list(COLUMNS))
    odd = {kind for kind in ("twice", "empty", "link", "status", "both") if rng.random() < 0.15}
    extra = rng.sample(COLUMNS[table], rng.randint(0, len(COLUMNS[table])))
    # The reference under the table's reference field or under REF (what the project's client
    # sends), or under both (agreeing or not: the row path compares them).
    reference = rng.choice((REF[table], "REF"))
    names = [reference, *extra]
    if "both" in odd:
        names.append("REF" if reference == REF[table] else REF[table])
    rng.shuffle(names)
    refs = [f"{PREFIX[table]}{rng.randrange(6)}" for _ in range(rng.randint(1, 8))]
    if "twice" not in odd:
        refs = list(dict.fromkeys(refs))
    other = refs if rng.random() < 0.5 else [f"{ref}x" for ref in refs]
    columns = [
        refs if name == reference else other if name in (REF[table], "REF") else
        [_cell(rng, name, odd) for _ in refs]
        for name in names
    ]  # fmt: skip
    return rng.choice(CONNECTORS), ColumnForm(table, tuple(names), columns)


def _dump(store: Storage) -> dict[str, Any]:
    with sqlite3.connect(store.path) as connection:
        items = connection.execute(
            "SELECT tbl, id, ref, status, fields, links, created, modified, deleted FROM items "
            "ORDER BY tbl, id"
        ).fetchall()
        log = connection.execute(
            "SELECT tbl, entity_id, ref, action, date, author FROM changelog ORDER BY id"
        ).fetchall()
        sequences = connection.execute("SELECT * FROM sequences ORDER BY tbl").fetchall()
    return {"items": items, "changelog": log, "sequences": sequences}


def _row_path(
    tenant: Tenant, store: Storage, settings: EmulatorSettings, code: str, form: ColumnForm
) -> Any:
    connector = tenant.connector(code)
    assert connector is not None
    try:
        with store.transaction():  # as ConnectorApi._accept checks a call
            batch, planned = importer.check(tenant, store, settings, connector, form.form())
            counts = importer.apply(tenant, store, connector, batch, planned)
    except importer.ImportRejected as exc:
        return {"rejected": exc.errors}
    return counts.as_response(sorted(set(batch["upserts"]) | set(batch["deletes"])))


def _bulk_path(
    tenant: Tenant, store: Storage, settings: EmulatorSettings, code: str, form: ColumnForm
) -> tuple[Any, bool]:
    connector = tenant.connector(code)
    assert connector is not None
    with store.transaction():
        prepared = bulk.prepare(tenant, store, settings, connector, form)
        if prepared is not None:
            counts = prepared.apply(store)
            return counts.as_response([form.table]), True
    return _row_path(tenant, store, settings, code, form), False


@pytest.mark.parametrize("seed", range(12))
def test_random_calls_give_what_the_row_path_gives(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = load_tenant()
    settings = EmulatorSettings.model_validate(
        {"refuse": {"products": {"P5": "refused"}}} if seed % 3 == 0 else {}
    )
    rows, columnwise = _stores(tmp_path)
    stamp = ["T0"]
    for module in (storage, importer, bulk):
        monkeypatch.setattr(module, "now_iso", lambda: stamp[0])
    rng = random.Random(seed)
    taken = taken_by_alias = 0
    for number in range(80):
        stamp[0] = f"T{number}"
        code, form = _call(rng)
        expected = _row_path(tenant, rows, settings, code, form)
        got, fast = _bulk_path(tenant, columnwise, settings, code, form)
        taken += fast
        taken_by_alias += fast and "REF" in form.names
        assert got == expected, (number, code, form)
        assert _dump(columnwise) == _dump(rows), (number, code, form)
    assert taken >= 12, f"only {taken} of 80 calls took the column-wise path"
    assert taken_by_alias >= 4, f"only {taken_by_alias} calls naming REF took the column path"


def _stores(tmp_path: Path) -> tuple[Storage, Storage]:
    return Storage(tmp_path / "rows.sqlite"), Storage(tmp_path / "columns.sqlite")


@pytest.mark.parametrize("reference", ["prod_ref", "REF"])
def test_a_call_read_from_its_body_takes_the_column_path(reference: str, tmp_path: Path) -> None:
    tenant = load_tenant()
    settings = EmulatorSettings()
    store = Storage(tmp_path / "sl.sqlite")
    connector = tenant.connector("CN123TEST")
    assert connector is not None
    rows = [
        {reference: f"P{n}", "prod_title_en": f"Title {n}", "prod_tags": "a,b", "prod_price": ""}
        for n in range(3)
    ]
    form = parse_columns(php_form({"products": rows}))
    assert form is not None
    with store.transaction():
        prepared = bulk.prepare(tenant, store, settings, connector, form)
        assert prepared is not None
        prepared.apply(store)
    stored = {item.ref: (item.fields, item.links) for item in store.live_items("products")}
    assert stored["P1"] == ({"prod_title": {"en": "Title 1"}, "prod_tags": ["a", "b"]}, {})


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ({"prod_ref": "P1", "prod_stat": "X"}, "a status X deletes"),
        ({"prod_ref": "P1", "prod_title_en": ""}, "an emptied language"),
        ({"prod_ref": "P1", "prod_tags": ","}, "an emptied list"),
        ({"prod_ref": "P1", "nope": "1"}, "an unknown field"),
        ({"prod_ref": "P1", "cat_ref": "NOWHERE"}, "a link to nothing"),
        ({"prod_ref": "P1", "REF": "P1"}, "the reference field and REF both"),
        ({"ID": "1", "prod_title_en": "T"}, "an ID to translate"),
    ],
)
def test_calls_the_row_path_must_answer_are_handed_back(
    row: dict[str, str], why: str, tmp_path: Path
) -> None:
    tenant = load_tenant()
    store = Storage(tmp_path / "sl.sqlite")
    connector = tenant.connector("CN123TEST")
    assert connector is not None
    form = parse_columns(php_form({"products": [row]}))
    assert form is not None
    with store.transaction():
        assert bulk.prepare(tenant, store, EmulatorSettings(), connector, form) is None, why
    assert store.live_items("products") == []


def test_calls_applied_at_once_keep_their_references_in_the_job_record(api: Api) -> None:
    """What ``tests/e2e/conftest.py`` (``sent_references``) reads: every accepted call's
    references, in the job's ``batch``, whichever path applied it."""
    api.settings({"tracking": {"steps_to_end": 0}})
    one_shape = [{"prod_ref": f"P{n}", "prod_title_en": f"T{n}"} for n in range(3)]
    mixed = {"products": [{"prod_ref": "P9"}, {"prod_ref": "P3", "prod_price": "1"}]}
    for body in (php_form({"products": one_shape}), php_form(mixed, {"products": ["P0"]})):
        answer = api.set_info(body).json()
        assert answer["input_response"]["result"] == 1, answer
    with sqlite3.connect(api.emulator.state.storage.path) as connection:
        batches = [json.loads(row[0]) for row in connection.execute("SELECT batch FROM jobs")]
    refs = sorted(row["ref"] for batch in batches for row in batch["upserts"].get("products", []))
    assert refs == ["P0", "P1", "P2", "P3", "P9"]
    assert sorted(ref for batch in batches for ref in batch["deletes"].get("products", [])) == [
        "P0"
    ]
    assert set(api.dump("products")) == {"P1", "P2", "P3", "P9"}


def test_an_ended_call_is_kept_as_its_references() -> None:
    batch: importer.Batch = {
        "upserts": {"p": [{"ref": 'a"é', "fields": {"x": "1"}}, {"ref": "b"}], "q": []},
        "deletes": {"p": ["x"]},
        "duplicates": {"p": 2},
    }
    kept = json.loads(storage.call_refs_json(batch))
    assert kept == {
        "upserts": {"p": [{"ref": 'a"é'}, {"ref": "b"}], "q": []},
        "deletes": {"p": ["x"]},
        "duplicates": {"p": 2},
    }


def _run_over_http(api: Api, seed: int) -> list[Any]:
    """Seeded calls of one table each over HTTP, applied at once (a share of jobs failing):
    every answer and tracking answer, then the store (stamps left out)."""
    api.emulator.reset()
    api.settings(
        {
            "tracking": {"steps_to_end": 0},
            "faults": {"tracking": {"job_failure_share": 0.3}},
            "connector_api": {"unknown_fields": "reject" if seed % 2 else "ignore"},
        }
    )
    rng = random.Random(seed)
    seen: list[Any] = []
    for _ in range(40):
        code, form = _call(rng)
        answer = api.set_info(php_form(form.form().input_data), sign(code)).json()
        answer.pop("time")
        response = answer.get("input_response", {})
        url = response.pop("status_tracking", None)
        seen.append(answer)
        if url:
            status = api.http.get(url).json()
            status.pop("time")
            seen.append(status)
    with sqlite3.connect(api.emulator.state.storage.path) as connection:
        seen.append(
            connection.execute(
                "SELECT tbl, id, ref, status, fields, links, deleted FROM items ORDER BY tbl, id"
            ).fetchall()
        )
        seen.append(
            connection.execute(
                "SELECT tbl, entity_id, ref, action, author FROM changelog ORDER BY id"
            ).fetchall()
        )
    return seen


@pytest.mark.integration
@pytest.mark.parametrize("seed", range(3))
def test_over_http_the_answers_are_those_of_the_row_path(
    api: Api, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = bulk.prepare

    def counted(*args: Any, **kwargs: Any) -> bulk.Prepared | None:
        prepared = real(*args, **kwargs)
        calls.append(prepared is not None)
        return prepared

    monkeypatch.setattr(bulk, "prepare", counted)
    columnwise = _run_over_http(api, seed)
    assert sum(calls) >= 10, f"only {sum(calls)} of 40 calls took the column-wise path"
    monkeypatch.setattr(bulk, "prepare", lambda *args, **kwargs: None)
    assert columnwise == _run_over_http(api, seed)
