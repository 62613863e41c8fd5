"""Against Debian's vsftpd: full paths in NLST, no MLSD, SIZE in ASCII mode (skipped, with the
reason, where vsftpd is not installed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sources.conftest import CSV, ConnectorDag
from tests.sources.vsftpd import Vsftpd, unavailable

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(unavailable() is not None, reason=str(unavailable())),
]


@pytest.fixture
def vsftpd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Vsftpd]:
    server = Vsftpd(tmp_path / "vsftpd")
    monkeypatch.setenv("AIRFLOW_CONN_ERP_VSFTPD", server.conn())
    yield server
    server.stop()


def test_vsftpd_listing_with_full_paths_and_newest_pick(
    vsftpd: Vsftpd, connector_dag: ConnectorDag
) -> None:
    import os

    older, newer = vsftpd.exports / "stores_1.csv", vsftpd.exports / "stores_2.csv"
    older.write_bytes(b"old\n")
    newer.write_bytes(CSV)
    os.utime(older, (1_700_000_000, 1_700_000_000))
    connector_dag.write(
        """
        kind: ftp
        conn_id: erp_vsftpd
        directory: /exports
        pattern: "stores_*.csv"
        pick: newest
        stable_for: 0.2s
        """
    )

    run = connector_dag.run()

    assert run.state == "success"
    (landed,) = run.xcom["files"]
    assert landed["name"] == "stores_2.csv"
    assert Path(landed["path"].removeprefix("file://")).read_bytes() == CSV
    assert landed["size"] == len(CSV)


def test_vsftpd_named_files_and_an_unchanged_export_not_downloaded_again(
    vsftpd: Vsftpd, connector_dag: ConnectorDag
) -> None:
    import os

    categories, products = vsftpd.exports / "cat_20261102.csv", vsftpd.exports / "prod_20261102.csv"
    categories.write_bytes(b"ref,title\nC1,Shirts\n")
    products.write_bytes(CSV)
    for export in (categories, products):
        os.utime(export, (1_800_000_000, 1_800_000_000))
    connector_dag.write(
        """
        kind: ftp
        conn_id: erp_vsftpd
        stable_for: 0s
        files:
          categories: "/exports/cat_{{ ds_nodash }}.csv"
          products: "/exports/prod_{{ ds_nodash }}.csv"
        """
    )

    first = connector_dag.run("2026-11-02")
    assert first.state == "success"
    assert [f["file"] for f in first.xcom["files"]] == ["categories", "products"]
    assert vsftpd.downloads() == ["/exports/cat_20261102.csv", "/exports/prod_20261102.csv"]

    assert connector_dag.run("2026-11-02").state == "skipped"
    assert len(vsftpd.downloads()) == 2  # same sizes and mtimes: nothing downloaded

    products.write_bytes(CSV + b"A-3,Socks\n")
    assert connector_dag.run("2026-11-02").state == "success"
    assert len(vsftpd.downloads()) == 4
