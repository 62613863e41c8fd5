"""The cluster's workload: a dozen connector files on two Sales Layer accounts and two kinds of
source (HTTP and FTP), their export files, and what each emulator must hold afterwards, computed
here from the export rows alone (not from the project's code).

Connector ``n`` writes to account ``a`` when n is even, ``b`` when odd; every account gets FTP and
HTTP connectors. References carry the connector's number, so no two connectors touch the same
item and the expected state is the plain union of their valid rows. One row per file lacks its
required title: it goes to the run's rejects file (within the connector's reject threshold), so
every run leaves both a report and a rejects file in the staging bucket.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

ACCOUNTS = ("a", "b")
#: Products per export file, of which one is rejected (no title).
ROWS = 24
#: Items per import call: each push makes three calls.
BATCH_SIZE = 10


def pool_name(account: str) -> str:
    """The Airflow pool of one account: one slot, so the account's pushes never overlap."""
    return f"saleslayer_{account}"


def conn_id(account: str) -> str:
    return f"saleslayer_{account}"


@dataclass(frozen=True)
class Connector:
    """One generated connector file and its export."""

    number: int

    @property
    def dag_id(self) -> str:
        return f"cluster_{self.number:02d}_{self.source}"

    @property
    def account(self) -> str:
        return ACCOUNTS[self.number % len(ACCOUNTS)]

    @property
    def source(self) -> str:
        # n % 4 in (0, 1): FTP, else HTTP -> each account has both kinds.
        return "ftp" if self.number % 4 in (0, 1) else "http"

    @property
    def export_name(self) -> str:
        return f"products_{self.number:02d}.csv"

    def rows(self) -> list[dict[str, str]]:
        """The export's rows; the last one has no title (a reject)."""
        rows = [
            {
                "sku": f"C{self.number:02d}-{n:03d}",
                "name_en": f"Product {n} of connector {self.number}",
                "price": f"{self.number}.{n:02d}",
            }
            for n in range(1, ROWS)
        ]
        rows.append({"sku": f"C{self.number:02d}-REJ", "name_en": "", "price": "1.00"})
        return rows

    def export_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["sku", "name_en", "price"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return out.getvalue()

    def yaml(self) -> str:
        if self.source == "ftp":
            source = f'kind: ftp\n  conn_id: erp_ftp\n  path: "/exports/{self.export_name}"\n'
            source += "  stable_for: 0s"
        else:
            source = f'kind: http\n  conn_id: erp_http\n  endpoint: "exports/{self.export_name}"'
        return f"""\
id: {self.dag_id}
description: Cluster test connector {self.number} ({self.source} to account {self.account}).
schedule: null
start_date: 2026-11-01
catchup: false
# Retries matter on a cluster: a worker lost mid-task is a failed try the next try resumes.
retries: 2
retry_delay: 2s
source:
  {source}
format: {{type: csv}}
tables:
  products:
    reference: sku
    fields:
      prod_title: {{column: name, languages: [en], required: true}}
      prod_price: {{column: price, type: number}}
target:
  conn_id: {conn_id(self.account)}
  batch_size: {BATCH_SIZE}
  # One pool per account, one slot each: pushes to one account never overlap.
  pool: {pool_name(self.account)}
validation: {{max_reject_ratio: 0.1}}
"""


def connectors(count: int = 12) -> list[Connector]:
    return [Connector(n) for n in range(count)]


def expected_products(account: str, chosen: list[Connector]) -> dict[str, dict[str, Any]]:
    """Every valid product of the account's connectors, as the emulator must show its fields."""
    expected: dict[str, dict[str, Any]] = {}
    for connector in chosen:
        if connector.account != account:
            continue
        for row in connector.rows():
            if row["name_en"]:
                expected[row["sku"]] = {
                    "prod_title": {"en": row["name_en"]},
                    "prod_price": float(row["price"]),
                }
    return expected
