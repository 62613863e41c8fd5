"""Write the demo company's daily exports where the demo servers serve them from.

Layout under the demo folder (the paths the example connectors ask for)::

    http/exports/catalog_<YYYY-MM-DD>.csv          apparel_catalog_http  (erp_http)
    ftp/exports/stores/stores_<YYYYMMDD>.csv       stores_ftp            (erp_ftp)
    api/items_<YYYY-MM-DD>.json                    erp_api_catalog       (erp_api serves one day)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from saleslayer_airflow.demo.catalog import daily_exports


@dataclass(frozen=True)
class DayExports:
    """The three export files of one day."""

    day: date
    catalog_csv: Path
    stores_csv: Path
    api_items: Path

    def items(self) -> list[dict[str, Any]]:
        """The ERP API's records of this day."""
        records: list[dict[str, Any]] = json.loads(self.api_items.read_text(encoding="utf-8"))
        return records


def write_exports(folder: Path, days: int, first_day: date, seed: int = 7) -> list[DayExports]:
    """Write ``days`` consecutive days of exports under ``folder``; return them in day order."""
    written = []
    for day, company in daily_exports(days, first_day=first_day, seed=seed):
        catalog = folder / "http" / "exports" / f"catalog_{day.isoformat()}.csv"
        stores = folder / "ftp" / "exports" / "stores" / f"stores_{day:%Y%m%d}.csv"
        items = folder / "api" / f"items_{day.isoformat()}.json"
        for path in (catalog, stores, items):
            path.parent.mkdir(parents=True, exist_ok=True)
        catalog.write_text(company.apparel_catalog_csv(), encoding="utf-8")
        stores.write_text(company.stores_csv(), encoding="utf-8")
        items.write_text(json.dumps(company.erp_items(), indent=1), encoding="utf-8")
        written.append(DayExports(day, catalog, stores, items))
    return written
