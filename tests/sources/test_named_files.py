"""Several named files per run (`source.files`), each table reading only the files it names.

Config errors are checked table-driven; the fetch against a real FTP server (pyftpdlib); and a
whole fetch + validate-and-split run through Airflow (dag.test()) with two exports of one day.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from saleslayer_airflow.config import parse_connector
from saleslayer_airflow.config.sources import FtpSource
from saleslayer_airflow.exceptions import ConnectorConfigError
from saleslayer_airflow.sources.base import fetch_from_server
from saleslayer_airflow.sources.errors import ExportMissingError
from saleslayer_airflow.sources.fingerprint import combined_fingerprint
from saleslayer_airflow.sources.ftp import ftp_server as open_ftp
from tests.sources.conftest import ConnectorDag
from tests.sources.servers import PASSWORD, FtpServer, HttpServer

HEAD = """\
id: shop
description: Named files.
schedule: "@daily"
start_date: 2026-11-01
"""
FTP_NAMED = """\
source:
  kind: ftp
  conn_id: erp_ftp
  files:
    categories: "/exports/categories_{{ ds_nodash }}.csv"
    products: "/exports/products_{{ ds_nodash }}.csv"
"""
FORMAT = "format:\n  type: csv\n"
TABLES = """\
tables:
  categories:
    reference: ref
    file: categories
  products:
    reference: sku
    file: [products]
    categories: category
    fields:
      name: name
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ConnectorConfigError) as caught:
        parse_connector(text, "shop.yaml")
    return [str(p) for p in caught.value.problems]


def test_named_files_and_table_files_are_read() -> None:
    config = parse_connector(HEAD + FTP_NAMED + FORMAT + TABLES, "shop.yaml")
    assert list(config.source.named_files()) == ["categories", "products"]
    assert config.tables["categories"].source_files() == ("categories",)
    assert config.tables["products"].source_files() == ("products",)


def test_http_named_endpoints_are_read() -> None:
    source = 'source:\n  kind: http\n  conn_id: erp_http\n  files: {categories: "c_{{ ds }}.csv"'
    config = parse_connector(HEAD + source + ", products: p.csv}\n" + FORMAT + TABLES, "x")
    assert config.source.named_files() == {"categories": "c_{{ ds }}.csv", "products": "p.csv"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            HEAD + FTP_NAMED + FORMAT + TABLES.replace("file: categories", "file: categorie"),
            [
                "shop.yaml:16: tables.categories.file: unknown file 'categorie'; did you mean "
                "'categories'? The source declares: categories, products"
            ],
            id="unknown file name, did you mean",
        ),
        pytest.param(
            HEAD + FTP_NAMED + FORMAT + TABLES.replace("[products]", "[products, stock]"),
            [
                "shop.yaml:19: tables.products.file: unknown file 'stock'. The source "
                "declares: categories, products"
            ],
            id="unknown name in a list, no close match",
        ),
        pytest.param(
            HEAD + FTP_NAMED + FORMAT + TABLES.replace("[products]", "[]"),
            ["shop.yaml:19: tables.products.file: `file: []` names no file"],
            id="an empty list of files",
        ),
        pytest.param(
            HEAD + FTP_NAMED + FORMAT + TABLES.replace("file: categories", "file: cat-egories"),
            [
                "shop.yaml:16: tables.categories.file: unknown file 'cat-egories'; did you mean "
                "'categories'?"
            ],
            id="a name that could not be declared",
        ),
        pytest.param(
            HEAD
            + "source: {kind: ftp, conn_id: erp_ftp, path: /exports/all.csv}\n"
            + FORMAT
            + TABLES,
            [
                "shop.yaml:11: tables.categories.file: `file: categories` names a file of the "
                "source, but the source declares no named files; declare them as "
                "`source.files: {name: path}`"
            ],
            id="file given while the source declares no named files",
        ),
        pytest.param(
            HEAD + FTP_NAMED + "  path: /exports/x.csv\n" + FORMAT + TABLES,
            ["shop.yaml:5: source: give either `files` (several named exports) or path, not both"],
            id="files and path",
        ),
        pytest.param(
            HEAD
            + "source: {kind: http, conn_id: h, endpoint: a.csv, files: {a: a.csv}}\n"
            + FORMAT
            + TABLES.replace("categories\n  products", "a\n  products"),
            ["shop.yaml:5: source: give either `endpoint` (one export) or `files`"],
            id="http endpoint and files",
        ),
        pytest.param(
            HEAD + "source: {kind: http, conn_id: h}\n" + FORMAT + "tables:\n  products:\n"
            "    reference: sku\n",
            ["shop.yaml:5: source: give either `endpoint` (one export) or `files`"],
            id="http neither endpoint nor files",
        ),
        pytest.param(
            HEAD
            + FTP_NAMED.replace("products_{{ ds_nodash }}", "products_{{ ds_nodash }")
            + FORMAT
            + TABLES,
            ["shop.yaml:10: source.files.products: invalid Jinja template"],
            id="a named file's template is checked and located",
        ),
    ],
)
def test_config_errors(text: str, expected: list[str]) -> None:
    got = _problems(text)
    assert len(got) == len(expected), got
    for line, want in zip(got, expected, strict=True):
        assert line.startswith(want), f"{line!r}\n does not start with\n{want!r}"


# ------------------------------------------------------------------------ fetch (module level)

CATEGORIES = b"ref,title,parent\nC1,Shirts,\nC2,Shoes,\n"
PRODUCTS = b"sku,name,category\nP1,Oxford shirt,C1\nP2,Linen shirt,C1\nP3,Boot,C2\n"


def _ftp_named(day: str = "20261102") -> FtpSource:
    return FtpSource.model_validate(
        {
            "kind": "ftp",
            "conn_id": "erp_ftp",
            "stable_for": "0s",
            "files": {
                "categories": f"/exports/categories_{day}.csv",
                "products": f"/exports/products_{day}.csv",
            },
        }
    )


@pytest.fixture
def landed(tmp_path: Path) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath((tmp_path / "landed").as_uri())


@pytest.mark.integration
def test_named_files_land_in_their_own_folders_tagged_with_their_name(
    ftp_server: FtpServer, ftp_root: Path, landed: Any
) -> None:
    (ftp_root / "exports" / "categories_20261102.csv").write_bytes(CATEGORIES)
    (ftp_root / "exports" / "products_20261102.csv").write_bytes(PRODUCTS)
    with open_ftp("erp_ftp", tls=False) as server:
        files = fetch_from_server(server, _ftp_named(), landed)
    assert [(f.file, f.name) for f in files] == [
        ("categories", "categories_20261102.csv"),
        ("products", "products_20261102.csv"),
    ]
    assert files[0].path.endswith("/landed/categories/categories_20261102.csv")
    assert Path(files[1].path.removeprefix("file://")).read_bytes() == PRODUCTS
    assert files[1].to_xcom()["file"] == "products"


@pytest.mark.integration
def test_a_missing_named_file_is_named_and_nothing_is_downloaded(
    ftp_server: FtpServer, ftp_root: Path, landed: Any
) -> None:
    (ftp_root / "exports" / "categories_20261102.csv").write_bytes(CATEGORIES)
    with open_ftp("erp_ftp", tls=False) as server, pytest.raises(ExportMissingError) as caught:
        fetch_from_server(server, _ftp_named(), landed)
    assert caught.value.file == "products"
    text = str(caught.value)
    assert "named file 'products'" in text
    assert f"ftp://127.0.0.1:{ftp_server.port}/exports/products_20261102.csv" in text
    assert "connection 'erp_ftp'" in text
    assert PASSWORD not in text and PASSWORD not in repr(caught.value)
    assert ftp_server.retrieved == []  # every file is looked up before any download


@pytest.mark.integration
def test_a_missing_named_http_file_is_named(http_server: HttpServer, landed: Any) -> None:
    from saleslayer_airflow.config.sources import HttpSource
    from saleslayer_airflow.sources.http import fetch_http

    http_server.state.files["c.csv"] = CATEGORIES
    source = HttpSource.model_validate(
        {
            "kind": "http",
            "conn_id": "erp_http",
            "files": {"categories": "exports/c.csv", "products": "private/p.csv"},
        }
    )
    with pytest.raises(ExportMissingError) as caught:
        fetch_http(source, landed)
    assert caught.value.file == "products"
    text = str(caught.value)
    assert text.startswith(
        f"export named file 'products' not found: http://127.0.0.1:{http_server.port}"
        "/private/p.csv (connection 'erp_http'): 404"
    )
    assert PASSWORD not in text and PASSWORD not in repr(caught.value)


def test_combined_fingerprint_covers_every_file_and_its_name() -> None:
    from saleslayer_airflow.sources.base import LandedFile

    def landed_file(file: str | None, sha: str) -> LandedFile:
        return LandedFile(path="p", name="n", source="s", size=1, sha256=sha, file=file)

    both = [landed_file("categories", "a"), landed_file("products", "b")]
    assert combined_fingerprint(both) == combined_fingerprint(list(reversed(both)))
    assert combined_fingerprint(both) != combined_fingerprint(both[:1])
    changed = [both[0], landed_file("products", "c")]
    assert combined_fingerprint(both) != combined_fingerprint(changed)
    swapped = [landed_file("categories", "b"), landed_file("products", "a")]
    assert combined_fingerprint(both) != combined_fingerprint(swapped)
    # Unnamed files keep the fingerprint they always had (records written before still match).
    assert combined_fingerprint([landed_file(None, "a")]) == combined_fingerprint(
        [landed_file(None, "a")]
    )


# ------------------------------------------------------------------ through Airflow (dag.test)

DAG_CONNECTOR = """\
id: {id}
description: Categories and products, one export each per day.
schedule: "@daily"
start_date: 2026-11-01
retries: 0
source:
  kind: ftp
  conn_id: erp_ftp
  stable_for: 0s
  on_missing: {{policy: {policy}}}
  files:
    categories: "/exports/categories_{{{{ ds_nodash }}}}.csv"
    products: "/exports/products_{{{{ ds_nodash }}}}.csv"
format:
  type: csv
tables:
  categories:
    reference: ref
    file: categories
    parent: parent  # a categories table without parent or path trips validation/parents.py
    fields:
      title: title
  products:
    reference: sku
    file: products
    categories: category
    fields:
      name: name
"""


def _write(connector_dag: ConnectorDag, policy: str = "fail") -> None:
    connector_dag.write_text(
        textwrap.dedent(DAG_CONNECTOR).format(id=connector_dag.dag_id, policy=policy)
    )


@pytest.mark.integration
def test_each_table_gets_the_rows_of_its_own_file_through_airflow(
    ftp_server: FtpServer,
    ftp_root: Path,
    connector_dag: ConnectorDag,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SALESLAYER_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    exports = ftp_root / "exports"
    (exports / "categories_20261102.csv").write_bytes(CATEGORIES)
    (exports / "products_20261102.csv").write_bytes(PRODUCTS)
    # Another day's export, which this run must not take:
    (exports / "categories_20261101.csv").write_bytes(b"ref,title,parent\nOLD,Old,\n")
    _write(connector_dag)

    run = connector_dag.run("2026-11-02", mark_success=r"^(push_.*|report)$")

    assert run.states["fetch_source"] == "success", run.states
    assert run.states["validate_and_split"] == "success", run.states
    files = run.xcom["files"]
    assert [(f["file"], f["name"]) for f in files] == [
        ("categories", "categories_20261102.csv"),
        ("products", "products_20261102.csv"),
    ]
    split = run.xcoms["validate_and_split"]
    assert split["rows_read"] == 5  # 2 category rows + 3 product rows, each read once
    assert split["rows_rejected"] == 0 and split["rows_unused"] == 0
    tables = split["tables"]
    assert {k: (v["rows_in"], v["rows_out"]) for k, v in tables.items()} == {
        "categories": (2, 2),
        "products": (3, 3),
    }
    categories = pq.read_table(tables["categories"]["path"].removeprefix("file://")).to_pylist()
    products = pq.read_table(tables["products"]["path"].removeprefix("file://")).to_pylist()
    assert [(c["reference"], c["title"]) for c in categories] == [
        ("C1", "Shirts"),
        ("C2", "Shoes"),
    ]
    assert [(p["reference"], p["_category_refs"]) for p in products] == [
        ("P1", ["C1"]),
        ("P2", ["C1"]),
        ("P3", ["C2"]),
    ]
    assert {p["_source_file"] for p in products} == {"products_20261102.csv"}
    assert PASSWORD not in json.dumps(run.xcoms)

    # The same two files again: skipped without downloading; one file changed: imported.
    again = connector_dag.run("2026-11-02", mark_success=r"^(push_.*|report)$")
    assert again.state == "skipped"
    retrieved = len(ftp_server.retrieved)
    (exports / "products_20261102.csv").write_bytes(PRODUCTS + b"P4,Sandal,C2\n")
    changed = connector_dag.run("2026-11-02", mark_success=r"^(push_.*|report)$")
    assert changed.state == "success"
    assert changed.xcom["fingerprint"] != run.xcom["fingerprint"]
    assert len(ftp_server.retrieved) == retrieved + 2  # the run imports both files together
    assert changed.xcoms["validate_and_split"]["tables"]["products"]["rows_out"] == 4


@pytest.mark.integration
@pytest.mark.parametrize(("policy", "expected"), [("fail", "failed"), ("skip", "skipped")])
def test_a_run_missing_one_named_file_follows_on_missing(
    ftp_server: FtpServer,
    ftp_root: Path,
    connector_dag: ConnectorDag,
    policy: str,
    expected: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    (ftp_root / "exports" / "categories_20261102.csv").write_bytes(CATEGORIES)
    _write(connector_dag, policy)

    run = connector_dag.run("2026-11-02")

    assert run.state == expected and run.try_number == 1
    assert ftp_server.retrieved == []
    logged = caplog.text + "".join(capfd.readouterr())
    assert "export named file 'products' not found" in logged
    assert "/exports/products_20261102.csv" in logged
    assert PASSWORD not in logged


def test_a_retry_empties_the_landing_folder_and_its_named_sub_folders(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    from saleslayer_airflow.sources.fetchers import _empty

    landed = tmp_path / "landed"
    (landed / "categories").mkdir(parents=True)
    (landed / "categories" / "c.csv").write_bytes(b"x")
    (landed / "old.csv").write_bytes(b"y")
    _empty(ObjectStoragePath(landed.as_uri()))
    assert landed.is_dir() and list(landed.iterdir()) == []


def test_the_dag_doc_lists_each_named_file_and_the_tables_it_feeds() -> None:
    from saleslayer_airflow.docs import render_doc_md
    from saleslayer_airflow.plan import plan_connector

    config = parse_connector(HEAD + FTP_NAMED + FORMAT + TABLES, "shop.yaml")
    doc = render_doc_md(plan_connector(config), "shop.yaml")
    assert "`categories`: `/exports/categories_{{ ds_nodash }}.csv` -> `categories`" in doc
    assert "`products`: `/exports/products_{{ ds_nodash }}.csv` -> `products`" in doc
    assert "None" not in doc
