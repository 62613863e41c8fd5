"""Render a connector's `doc_md`: what a person opening the DAG in the Airflow UI needs to know."""

from __future__ import annotations

from saleslayer_airflow.config.models import (
    ApiSource,
    ConnectorConfig,
    CsvFormat,
    FieldMapping,
    HttpSource,
    JsonFormat,
    TableMapping,
    XlsxFormat,
    XmlFormat,
)
from saleslayer_airflow.plan import ConnectorPlan, Stage, TaskSpec


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _source_lines(config: ConnectorConfig) -> list[str]:
    src = config.source
    lines = [f"- **Kind:** `{src.kind}` through Airflow connection `{src.conn_id}`"]
    if named := src.named_files():
        lines.append("- **Files** (templated per run), and the tables each one feeds:")
        for name, where in named.items():
            readers = [
                key
                for key, table in config.tables.items()
                if name in (table.source_files() or named)
            ]
            fed = ", ".join(f"`{key}`" for key in readers) or "no table (unused)"
            lines.append(f"  - `{name}`: `{where}` -> {fed}")
    elif isinstance(src, HttpSource):
        lines.append(f"- **URL path:** `{src.method} {src.endpoint}` (templated per run)")
    elif isinstance(src, ApiSource):
        lines.append(
            f"- **Endpoint:** `{src.endpoint}`, records at `{src.records_path or '(body)'}`"
        )
        lines.append(
            f"- **Pagination:** {src.pagination.style.value}, {src.pagination.page_size} per page"
        )
        if src.incremental:
            lines.append(
                f"- **Incremental:** `{src.incremental.param}` = time of the last successful run"
            )
    elif src.path:
        lines.append(f"- **Path:** `{src.path}` (templated per run)")
    else:
        lines.append(f"- **Folder:** `{src.directory}`, files matching `{src.pattern}`")
        lines.append(f"- **Pick:** {src.pick.value}")
    policy = src.on_missing.policy.value
    lines.append(
        f"- **If the export is missing:** {policy}"
        + (f" (up to {src.on_missing.timeout})" if policy == "wait" else "")
    )
    return lines


def _format_line(config: ConnectorConfig) -> str:
    fmt = config.format
    if isinstance(fmt, CsvFormat):
        return (
            f"CSV, delimiter `{fmt.delimiter}`, encoding {fmt.encoding}, "
            f"{'with' if fmt.header else 'without'} header"
        )
    if isinstance(fmt, JsonFormat):
        return f"JSON, records at `{fmt.records_path or '(document)'}`"
    if isinstance(fmt, XlsxFormat):
        return f"Excel workbook, sheet `{fmt.sheet}`"
    if isinstance(fmt, XmlFormat):
        return f"XML, records at `{fmt.record}`"
    return "JSON Lines"


def _origin(mapping: FieldMapping) -> str:
    if mapping.constant is not None:
        return f"constant `{mapping.constant}`"
    text = f"`{mapping.column}`"
    if mapping.template is not None:
        text = f"template `{mapping.template}`"
    elif mapping.languages:
        text = ", ".join(
            f"`{mapping.language_pattern.format(column=mapping.column, lang=lang)}`"
            for lang in mapping.languages
        )
    extras = []
    if mapping.separator:
        extras.append(f"list split on `{mapping.separator}`")
    if mapping.type.value != "string":
        extras.append(mapping.type.value)
    if mapping.required:
        extras.append("required")
    if mapping.transforms:
        extras.append(f"{len(mapping.transforms)} transform(s)")
    return text + (f" ({', '.join(extras)})" if extras else "")


def _links(table: TableMapping) -> str:
    parts = []
    if table.parent:
        parts.append(f"parent from `{table.parent}`")
    if table.path:
        parts.append(f"tree from path `{table.path.column}` split on `{table.path.separator}`")
    if table.categories:
        parts.append(f"categories from `{table.categories.column}`")
    if table.product_column():
        cut = " (cut by a pattern)" if getattr(table.product, "pattern", None) else ""
        parts.append(f"product from `{table.product_column()}`{cut}")
    if listing := table.product_listing():
        parts.append(f"product from the product rows' `{listing.column}`")
    parts += [f"{name} from `{ref.column}`" for name, ref in table.links.items()]
    return "; ".join(parts) or "none"


def render_doc_md(plan: ConnectorPlan, source_file: str) -> str:
    """Markdown shown on the DAG's page. Holds no secret: the config cannot contain one."""
    config = plan.config
    target = config.target
    out = [
        f"# {config.id}",
        "",
        config.description.strip(),
        "",
        f"Defined in `{source_file}`. Owner: **{config.owner}**.",
        "",
        "## Schedule",
        f"- `{config.schedule or 'manual runs only'}` ({config.timezone}), from {config.start_date}"
        + (f" to {config.end_date}" if config.end_date else "")
        + f", catchup {'on' if config.catchup else 'off'}, "
        f"at most {config.max_active_runs} run(s) at once",
        "- A scheduled or backfilled run imports the export of its own logical date (`{{ ds }}`).",
        f"- Retries: {config.retries}, first after {config.retry_delay}, then doubling.",
        "",
        "## Source",
        *_source_lines(config),
        f"- **Format:** {_format_line(config)}",
        "",
        "## Tables (push order)",
    ]
    for table_key in plan.push_order():
        table = config.tables[table_key]
        kind = table.resolved_kind(table_key).value
        name = table.sales_layer_table or table_key
        out += [
            "",
            f"### {name} ({kind})",
            f"Reference from `{table.reference}`; links: {_links(table)}.",
            "",
            "| Sales Layer field | from |",
            "|---|---|",
            *(f"| `{_cell(f)}` | {_cell(_origin(m))} |" for f, m in table.fields.items()),
        ]
    validation = config.validation
    limits = []
    if validation.max_reject_ratio is not None:
        limits.append(f"more than {validation.max_reject_ratio:.1%} of the rows")
    if validation.max_rejects is not None:
        limits.append(f"more than {validation.max_rejects} rows")
    out += [
        "",
        "## Sales Layer target",
        f"- Connection `{target.conn_id}`, transport `{target.transport.value}`, "
        f"{target.batch_size} items per call, pool `{target.pool}`",
        "- Sends "
        + (
            "every item, changed or not (`send_unchanged`)"
            if target.send_unchanged
            else "only items changed since the last push"
        )
        + "; "
        + ("updates existing items only" if target.only_existing else "creates new items")
        + ("; **dry run: writes nothing**" if target.dry_run else ""),
        "- Deletions: "
        + (
            f"{target.deletions.action.value} items missing from the export, refused above "
            f"{target.deletions.max_ratio:.0%}"
            if target.deletions.enabled
            else "off"
        ),
        "- Assets updated (one per table, an event per successful push): "
        + ", ".join(f"`{a.name}`" for a in plan.assets().values()),
        "",
        "## Validation",
        "- Rejected rows go to the run's rejects file with line and reason; the run fails when "
        + (" or ".join(limits) if limits else "never (no threshold set)")
        + " are rejected.",
        "",
        "## Run parameters",
        "- `force`: import even if the export equals the last one imported.",
        "- `dry_run`: report what would change without writing to Sales Layer.",
        "- `export_date`: for runs without a logical date (manual or API triggers), "
        "the date of the export to take.",
        "",
        "## Reading a run",
        "- `report` task: XCom `return_value` holds per table read, created, updated, "
        "unchanged, stale, rejected, merged and failed; its **Run report** link opens the "
        "same as text.",
        "- `validate_and_split` task: **Rejects file** link (CSV: file, line, table, reference, "
        "column, value, reason) and **Ignored rows** link (rows that fed no table, with why).",
        "- Each `push_<table>` task: XCom with that table's counts.",
    ]
    return "\n".join(out) + "\n"


def render_task_doc_md(spec: TaskSpec, config: ConnectorConfig) -> str:
    """The short `doc_md` of one task: what it does and where to look at its outcome."""
    if spec.stage is Stage.FETCH:
        return (
            f"Lands the export from `{config.source.kind}` connection `{config.source.conn_id}` "
            "unchanged in the run's staging folder, with its fingerprint. Skips the run when the "
            "export equals the last one imported (unless `force`). XCom: the landed files."
        )
    if spec.stage is Stage.SPLIT:
        return (
            "Reads the landed export, maps it onto the Sales Layer tables, validates every row and "
            "writes one staged file per table. Rows that cannot be imported go to the rejects "
            "file (extra link **Rejects file**), with file, line, column and reason; rows that "
            "feed no table are listed with why (extra link **Ignored rows**). XCom: rows read, "
            "kept, merged and rejected per table."
        )
    if spec.stage is Stage.PUSH:
        assert spec.table is not None
        table = config.tables[spec.table]
        asset = f" Updates the asset `{spec.asset.name}`." if spec.asset else ""
        return (
            f"Sends the items of `{spec.table}` (Sales Layer table "
            f"`{table.import_table(spec.table)}`) whose content changed since the last push, "
            f"through connection `{config.target.conn_id}`. XCom: created, updated, unchanged, "
            f"stale and failed counts.{asset}"
        )
    return (
        "Sums the run up per table (read = created + updated + unchanged + stale + rejected + "
        "merged + failed), writes `report.txt` / `report.json` (extra link **Run report**) and "
        "fails when an earlier task failed, so an incomplete import never shows green."
    )
