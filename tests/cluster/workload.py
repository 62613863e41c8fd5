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
from datetime import UTC, date, datetime, timedelta
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
        return _csv(self.rows())

    def yaml(self) -> str:
        if self.source == "ftp":
            source = _ftp_source(self.export_name)
        else:
            source = (
                f'  kind: http\n  conn_id: erp_http\n  endpoint: "exports/{self.export_name}"\n'
            )
        # Retries matter on a cluster: a worker lost mid-task is a failed try the next try
        # resumes. One pool per account, one slot each: pushes to one account never overlap.
        return connector_yaml(
            self.dag_id,
            f"Cluster test connector {self.number} ({self.source} to account {self.account}).",
            self.account,
            source=source,
            retries=2,
            retry_delay="2s",
            batch_size=BATCH_SIZE,
            reject_ratio=0.1,
        )


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


# ----------------------------------------------------------------------------- more connectors
#
# Connector files for single scenarios (a worker lost mid-push, a backfill, two accounts with the
# same references). They are written into the DAG folder at start with the twelve above but are
# not part of ``Cluster.connectors``: the twelve-run tests count only their own. Their references
# carry prefixes of their own (K-, B-, T-), never the twelve's ``Cnn-``.


@dataclass(frozen=True)
class Scenario:
    """A connector file of one scenario and the export files it reads from the FTP server
    (names under ``/exports``)."""

    dag_id: str
    account: str
    text: str
    files: dict[str, str]

    def yaml(self) -> str:
        return self.text


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


#: The table most connectors import: products with a required title and a price.
PRODUCTS_TABLES = """\
tables:
  products:
    reference: sku
    fields:
      prod_title: {column: name, languages: [en], required: true}
      prod_price: {column: price, type: number}
"""


def _ftp_source(export: str) -> str:
    """The ``source:`` body of an export under the FTP server's /exports (taken at once)."""
    return f'  kind: ftp\n  conn_id: erp_ftp\n  path: "/exports/{export}"\n  stable_for: 0s\n'


def connector_yaml(
    dag_id: str,
    description: str,
    account: str,
    *,
    source: str,
    retries: int,
    retry_delay: str,
    batch_size: int,
    tables: str = PRODUCTS_TABLES,
    schedule: str = "null",
    start_date: str = "2026-11-01",
    end_date: str | None = None,
    reject_ratio: float | None = None,
) -> str:
    """A connector file of the cluster tests: CSV from ``source`` into ``account``'s Sales
    Layer through the account's one-slot pool (pushes to one account never overlap)."""
    dates = f"start_date: {start_date}\n" + (f"end_date: {end_date}\n" if end_date else "")
    validation = (
        f"validation: {{max_reject_ratio: {reject_ratio}}}\n" if reject_ratio is not None else ""
    )
    return (
        f"id: {dag_id}\ndescription: {description}\nschedule: {schedule}\n{dates}"
        f"catchup: false\nretries: {retries}\nretry_delay: {retry_delay}\n"
        f"source:\n{source}format: {{type: csv}}\n{tables}"
        f"target:\n  conn_id: {conn_id(account)}\n  batch_size: {batch_size}\n"
        f"  pool: {pool_name(account)}\n{validation}"
    )


#: The lost-worker scenario: 60 products in batches of 4, i.e. 15 import calls, each waiting for
#: its import job to end (the test slows the emulator's tracking), so the push lasts long enough
#: to be killed in the middle with batches acknowledged before and after.
KILLED_DAG, KILLED_ROWS, KILLED_BATCH = "cluster_killed_push", 60, 4


def killed_rows() -> list[dict[str, str]]:
    return [
        {"sku": f"K-{n:03d}", "name_en": f"Killed push product {n}", "price": f"{n}.50"}
        for n in range(1, KILLED_ROWS + 1)
    ]


def killed_push() -> Scenario:
    text = connector_yaml(
        KILLED_DAG,
        "Cluster test connector whose worker is killed in the middle of the push.",
        "a",
        source=_ftp_source("killed.csv"),
        retries=2,
        retry_delay="1s",
        batch_size=KILLED_BATCH,
    )
    return Scenario(KILLED_DAG, "a", text, {"killed.csv": _csv(killed_rows())})


#: The backfill scenario: a daily connector whose FTP path names the run's day; three days, each
#: export with other prices and titles, the newest day's data the newest.
BACKFILL_DAG, BACKFILL_ROWS = "cluster_backfill_daily", 10


def backfill_days(today: date | None = None) -> list[date]:
    """Three consecutive past days (a backfill only creates runs whose interval has ended)."""
    today = today or datetime.now(UTC).date()
    return [today - timedelta(days=n) for n in (7, 6, 5)]


def backfill_rows(day: date) -> list[dict[str, str]]:
    stamp = day.strftime("%Y%m%d")
    return [
        {
            "sku": f"B-{n:03d}",
            "name_en": f"Product {n} as of {stamp}",
            "price": f"{day.day}.{n:02d}",
        }
        for n in range(1, BACKFILL_ROWS + 1)
    ]


def backfill_daily(days: list[date]) -> Scenario:
    # end_date = the last backfilled day: unpausing the DAG (the scheduler runs no task of a
    # paused DAG, backfill runs included) then schedules no run of its own (catchup is off and
    # today's run would be after the end date), so every run of this DAG is a backfill run.
    text = connector_yaml(
        BACKFILL_DAG,
        "Cluster test connector backfilled over several days, one export per day.",
        "b",
        source=_ftp_source("daily_{{ ds_nodash }}.csv"),
        schedule='"@daily"',
        start_date=days[0].isoformat(),
        end_date=days[-1].isoformat(),
        retries=1,
        retry_delay="1s",
        batch_size=5,
    )
    files = {f"daily_{day.strftime('%Y%m%d')}.csv": _csv(backfill_rows(day)) for day in days}
    return Scenario(BACKFILL_DAG, "b", text, files)


#: The two-accounts scenario: one connector per account, the same tables (categories, products)
#: and the same references, other titles; a third connector (account b) pushes products linking
#: one category only account a has, and one both have.
TWIN_REFS = [f"T-{n:03d}" for n in range(1, 9)]
TWIN_CATEGORY, ONLY_A_CATEGORY = "T-CAT", "T-CAT-ONLY-A"
LATE_KNOWN, LATE_UNKNOWN = "T-LATE-KNOWN", "T-LATE-ORPHAN"


def twin_dag(account: str) -> str:
    return f"cluster_twin_{account}"


LATE_DAG = "cluster_twin_b_late"


def twin_rows(account: str) -> list[dict[str, str]]:
    rows = [
        {
            "sku": ref,
            "name_en": f"{ref} of account {account}",
            "category": TWIN_CATEGORY,
            "category_name_en": f"Category of account {account}",
        }
        for ref in TWIN_REFS
    ]
    if account == "a":
        # A category only account a gets (with a product of its own linking it).
        rows.append(
            {
                "sku": "T-A-ONLY",
                "name_en": "Only in account a",
                "category": ONLY_A_CATEGORY,
                "category_name_en": "Only in account a",
            }
        )
    return rows


def late_rows() -> list[dict[str, str]]:
    return [
        {"sku": LATE_KNOWN, "name_en": "Links a category account b has", "category": TWIN_CATEGORY},
        {
            "sku": LATE_UNKNOWN,
            "name_en": "Links a category of account a",
            "category": ONLY_A_CATEGORY,
        },
    ]


_TWIN_TABLES = """\
tables:
  categories:
    reference: category
    fields:
      cat_title: {column: category_name, languages: [en]}
  products:
    reference: sku
    categories: {column: category}
    fields:
      prod_title: {column: name, languages: [en], required: true}
"""

_LATE_TABLES = """\
tables:
  products:
    reference: sku
    categories: {column: category}
    fields:
      prod_title: {column: name, languages: [en], required: true}
"""


def _twin_text(dag_id: str, account: str, export: str, tables: str, reject_ratio: float) -> str:
    return connector_yaml(
        dag_id,
        f"Cluster test connector of account {account}; references shared with the other.",
        account,
        source=_ftp_source(export),
        tables=tables,
        retries=1,
        retry_delay="1s",
        batch_size=20,
        reject_ratio=reject_ratio,
    )


def twins() -> list[Scenario]:
    found = [
        Scenario(
            twin_dag(account),
            account,
            _twin_text(twin_dag(account), account, f"twin_{account}.csv", _TWIN_TABLES, 0.0),
            {f"twin_{account}.csv": _csv(twin_rows(account))},
        )
        for account in ACCOUNTS
    ]
    late = _twin_text(LATE_DAG, "b", "twin_b_late.csv", _LATE_TABLES, 0.6)
    found.append(Scenario(LATE_DAG, "b", late, {"twin_b_late.csv": _csv(late_rows())}))
    return found


def scenarios() -> list[Scenario]:
    """Every scenario connector the cluster tests start with."""
    return [killed_push(), backfill_daily(backfill_days()), *twins()]
