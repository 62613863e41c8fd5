"""The connector pages of the package's UI plugin, served by the cluster's own api-server with the
run files on S3 (the staging base is a bucket on moto's server): a finished run's report page and
its rejects file, fetched with a logged-in user's token, show what the run wrote to the bucket
(read with boto3, not through the package). Pages are read through their ``data-*`` attributes,
as tests/ui/test_pages.py reads them on one machine."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from lxml import html as lxml_html

from saleslayer_airflow.ui.runs_data import TABLE_TERMS
from tests.cluster.conftest import Runs
from tests.cluster.harness import BUCKET, SL_KEY, Cluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def _fetch(cluster: Cluster, path: str, token: str | None = "login") -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {cluster.token()}"}
    return httpx.get(f"{cluster.base_url}{path}", headers=headers, timeout=60)


def _page(cluster: Cluster, path: str) -> Any:
    answer = _fetch(cluster, path)
    assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:500]}"
    assert answer.headers["content-type"].startswith("text/html")
    for what, secret in cluster.secrets().items():
        assert secret not in answer.text, what
    return lxml_html.fromstring(answer.text)


def _cells(row: Any) -> dict[str, str]:
    return {td.get("data-term"): td.text_content().strip() for td in row.xpath("td[@data-term]")}


def _bucket_file(cluster: Cluster, dag_id: str, name: str) -> bytes:
    keys = [k for k in cluster.bucket_keys(f"staging/{dag_id}/") if k.endswith(f"/{name}")]
    assert len(keys) == 1, keys
    body: bytes = cluster.s3().get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()
    return body


def test_a_run_page_and_its_rejects_come_from_the_bucket(cluster: Cluster, runs: Runs) -> None:
    dag_id = sorted(runs.runs)[0]
    run_id = runs.runs[dag_id]["dag_run_id"]
    quoted = quote(run_id, safe="")
    report = json.loads(_bucket_file(cluster, dag_id, "report.json"))
    counts = report["tables"]["products"]

    page = _page(cluster, f"/saleslayer/pages/runs/{dag_id}/{quoted}")
    (row,) = page.xpath('//table[@id="balance"]//tr[@data-table="products"]')
    cells = _cells(row)
    assert int(cells["read"]) == counts["read"]
    assert {t: int(cells[t]) for t in TABLE_TERMS} == {t: counts[t] for t in TABLE_TERMS}
    assert "balanced" in row.text_content()

    # The run files, through the api-server: the same bytes as the bucket's.
    served = _fetch(cluster, f"/saleslayer/runs/{dag_id}/{quoted}/report.json")
    assert served.status_code == 200, served.text[:500]
    assert served.json()["tables"]["products"] == counts
    rejects = _fetch(cluster, f"/saleslayer/runs/{dag_id}/{quoted}/rejects")
    assert rejects.status_code == 200, rejects.text[:500]
    rejected = list(csv.DictReader(io.StringIO(rejects.text)))
    in_bucket = list(
        csv.DictReader(io.StringIO(_bucket_file(cluster, dag_id, "rejects.csv").decode()))
    )
    assert rejected == in_bucket
    assert len(rejected) == counts["rejected"] == 1
    assert rejected[0]["reference"].endswith("-REJ")
    groups = page.xpath('//table[@id="rejects"]//tr[@data-reason]')
    assert [int(g.get("data-count")) for g in groups] == [1]
    assert rejected[0]["reference"] in page.xpath('//table[@id="rejects"]')[0].text_content()

    # Without a login: nothing.
    assert (
        _fetch(cluster, f"/saleslayer/pages/runs/{dag_id}/{quoted}", token=None).status_code == 401
    )
    assert SL_KEY not in rejects.text


def test_the_overview_and_trends_show_every_connector_s_run(cluster: Cluster, runs: Runs) -> None:
    page = _page(cluster, "/saleslayer/pages/connectors")
    for dag_id, run in runs.runs.items():
        rows = page.xpath(f'//tr[@data-dag-id="{dag_id}"][@data-table="products"]')
        assert len(rows) == 1, dag_id
        cells = _cells(rows[0])
        assert (int(cells["read"]), int(cells["created"]), int(cells["rejected"])) == (24, 23, 1)
        # Links are absolute, under the api-server's [api] base_url.
        links = rows[0].xpath(".//a/@href")
        wanted = f"{cluster.base_url}/saleslayer/pages/runs/{dag_id}/"
        assert wanted + quote(run["dag_run_id"], safe="") in links, links

    dag_id = sorted(runs.runs)[-1]
    trends = _page(cluster, f"/saleslayer/pages/connectors/{dag_id}/trends")
    (row,) = trends.xpath('//table[@id="runs"]/tbody/tr')
    assert row.get("data-run-id") == runs.runs[dag_id]["dag_run_id"]
    assert int(_cells(row)["sent:products"]) == 23
