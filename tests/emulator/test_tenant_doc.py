"""docs/emulator.md documents the default tenant as default_tenant.yaml holds it: the section
between its markers is generated, and this fails as soon as the two disagree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from saleslayer_airflow.emulator import tenant_doc
from saleslayer_airflow.emulator.tenant import Tenant, load_tenant

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"
REGENERATE = "python -m saleslayer_airflow.emulator tenant-doc"


def test_docs_emulator_md_is_up_to_date_with_default_tenant_yaml() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(tenant_doc.BEGIN), text.index(tenant_doc.END) + len(tenant_doc.END)
    assert text[start:end] == tenant_doc.render(load_tenant()), (
        f"docs/emulator.md is out of date with default_tenant.yaml; run: {REGENERATE}"
    )


def test_the_doc_names_sales_layers_tables_for_the_connectors_ones() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert (
        "| `catalogue` | categories | `categories` | `Categories` | `cat_` |" in text
        and "| `product_formats` | variants | `variants` | `Variants` | `frmt_` |" in text
    )
    assert (
        "the connector's `categories` table is Sales Layer's `catalogue`, and its `variants` "
        "table is Sales Layer's `product_formats`" in " ".join(text.split())
    )


def _tenant(**change: object) -> Tenant:
    data = load_tenant().model_dump()
    data.update(change)
    return Tenant.model_validate(data)


def test_a_field_added_to_the_tenant_changes_the_section() -> None:
    base = load_tenant()
    tables = base.model_dump()["tables"]
    tables[1]["fields"] = [*tables[1]["fields"], {"name": "prod_weight"}]
    section = tenant_doc.render(_tenant(tables=tables))
    assert section != tenant_doc.render(base)
    assert "| `prod_weight` | `prod_weight` | text |" in section


@pytest.mark.integration
def test_the_cli_writes_and_checks_the_section(tmp_path: Path) -> None:
    doc = tmp_path / "emulator.md"
    doc.write_text(f"# Title\n\n{tenant_doc.BEGIN}\nold\n{tenant_doc.END}\n\nAfter.\n", "utf-8")
    command = [sys.executable, "-m", "saleslayer_airflow.emulator", "tenant-doc", "--doc"]

    stale = subprocess.run([*command, str(doc), "--check"], capture_output=True, text=True)
    assert stale.returncode == 1
    assert stale.stderr == f"{doc} is out of date with default_tenant.yaml; run: {REGENERATE}\n"

    wrote = subprocess.run([*command, str(doc)], capture_output=True, text=True)
    assert wrote.returncode == 0, wrote.stderr
    assert wrote.stdout == f"{doc}: updated from default_tenant.yaml\n"
    expected = f"# Title\n\n{tenant_doc.render(load_tenant())}\n\nAfter.\n"
    assert doc.read_text(encoding="utf-8") == expected

    current = subprocess.run([*command, str(doc), "--check"], capture_output=True, text=True)
    assert (current.returncode, current.stderr) == (0, "")


@pytest.mark.integration
@pytest.mark.parametrize("text", ["# no markers\n", f"{tenant_doc.END}\n{tenant_doc.BEGIN}\n"])
def test_a_document_without_the_markers_is_refused(tmp_path: Path, text: str) -> None:
    doc = tmp_path / "emulator.md"
    doc.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "saleslayer_airflow.emulator", "tenant-doc", "--doc", str(doc)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {doc}: the document has no {tenant_doc.BEGIN} ... {tenant_doc.END} pair; put "
        "both markers, on lines of their own, where the tenant's tables go\n"
    )
    assert doc.read_text(encoding="utf-8") == text
