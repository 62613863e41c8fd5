"""Issue 13, shapes 1 and 2: several category paths in one cell (``path.list_separator``) and
category titles from the path (``path.title``), on a Magento-like ``catalog_product`` export.

The expected trees, titles, links and rejects are worked out from the raw file with the csv
module and plain string operations, never with the code under test.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from saleslayer_airflow.config.load import parse_connector
from saleslayer_airflow.exceptions import ConnectorConfigError
from saleslayer_airflow.mapping.errors import MappingError
from saleslayer_airflow.mapping.plan import CATEGORY_REFS, PARENT_REF, build_plans
from saleslayer_airflow.mapping.references import (
    MAX_CELL_LEVELS,
    path_link_refs,
    path_titles,
    path_tree,
)
from saleslayer_airflow.mapping.values import ItemReference, RejectedReference, item_reference
from saleslayer_airflow.normalize.engine import split_export
from saleslayer_airflow.normalize.results import LandedFile
from saleslayer_airflow.saleslayer.preflight import check_names, declared_schema
from saleslayer_airflow.validation.columns import Header, check_columns
from saleslayer_airflow.validation.completeness import present_forms
from saleslayer_airflow.validation.values import ValueProblem

HEAD = """\
id: magento_catalog
description: Magento-like catalog_product export
schedule: null
start_date: 2026-01-01
source: {kind: http, conn_id: erp_http, endpoint: catalog_product.csv}
format: {type: csv}
"""

TABLES = """\
tables:
  categories:
    reference: categories
    path:
      column: categories
      separator: /
      list_separator: ","
      title: {field: cat_title, languages: [en, fr], path_language: en}
  products:
    reference: sku
    categories: {column: categories}
    fields:
      prod_title: name
      prod_description: description
      prod_image: base_image
"""

HEADER = ["sku", "name", "description", "base_image", "categories", "categories_fr"]
ROWS = [
    [
        "MH01",
        "Chaz Kangeroo Hoodie",
        '<p>Ideal for cold-weather training &amp; "work outdoors".</p>\n<ul><li>Fleece</li></ul>',
        "/m/h/mh01-gray_main.jpg",
        "Default Category/Men/Tops/Hoodies & Sweatshirts,Default Category/Collections/Eco Friendly",
        "Catégorie par défaut/Hommes/Hauts/Sweats à capuche,"
        "Catégorie par défaut/Collections/Éco-responsable",
    ],
    [
        "MH02",
        "Teton Pullover Hoodie",
        "<p>Café-style comfort, naïve cut.</p>",
        "/m/h/mh02-black_main.jpg",
        # the first path again, and a path above it: one category each
        "Default Category/Men/Tops/Hoodies & Sweatshirts,Default Category/Men",
        "Catégorie par défaut/Hommes/Hauts/Sweats à capuche,Catégorie par défaut/Hommes",
    ],
    [
        "WS03",
        "Summer Tee",
        "<p>Light &amp; airy</p>",
        "/w/s/ws03-red_main.jpg",
        "Default Category/Women/Tops,Default Category/Promotions/Été",
        "",  # no French export for this row: no French titles from it
    ],
    [
        "BAD1",
        "Broken path",
        "",
        "",
        "Default Category/Men//Tops,Default Category/Gear",
        "Catégorie par défaut/Hommes//Hauts,Catégorie par défaut/Équipement",
    ],
    [
        "BAD2",
        "Trailing list separator",
        "",
        "",
        "Default Category/Gear,",
        "Catégorie par défaut/Équipement,",
    ],
    [
        "BAD3",
        "French path one level short",
        "",
        "",
        "Default Category/Gear/Bags",
        "Catégorie par défaut/Sacs",
    ],
]
#: the reason of each bad row, by its index in ROWS
BAD_ROWS = {3: "empty level 3", 4: "empty path 2 of 2", 5: "levels per path"}


def export_text() -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([HEADER, *ROWS])
    return out.getvalue()


def config(tables: str = TABLES) -> Any:
    return parse_connector(HEAD + tables, "magento_catalog.yaml")


def split(tmp_path: Path, text: str, tables: str = TABLES) -> tuple[Any, dict[str, list[Any]]]:
    (tmp_path / "catalog_product.csv").write_text(text, encoding="utf-8")
    landed = LandedFile(tmp_path / "catalog_product.csv", "catalog_product.csv")
    result = split_export(config(tables), [landed], tmp_path / "work")
    staged = {key: pq.read_table(path).to_pylist() for key, path in result.paths.items()}
    return result, staged


def expected(text: str) -> dict[str, Any]:
    """Categories (ref -> parent, en title, fr title), product links and rejected lines, from
    the raw file: split by ',' then '/', every prefix a category."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    records: list[tuple[int, dict[str, str]]] = []
    last = reader.line_num
    for cells in reader:  # a record's line is the first physical line it spans
        records.append((last + 1, dict(zip(header, cells, strict=True))))
        last = reader.line_num
    parents: dict[str, str | None] = {}
    titles: dict[str, tuple[str, str | None]] = {}
    links: dict[str, list[str]] = {}
    bad: set[int] = set()
    lines = {}
    for index, (line, row) in enumerate(records):
        lines[index] = line
        paths = [p.split("/") for p in row["categories"].split(",")]
        french = (
            [p.split("/") for p in row["categories_fr"].split(",")]
            if row["categories_fr"]
            else None
        )
        if any("" in p for p in paths) or (
            french is not None and [len(p) for p in french] != [len(p) for p in paths]
        ):
            bad.add(line)
            continue
        leaves = []
        for index, path in enumerate(paths):
            for depth in range(len(path)):
                ref = "/".join(path[: depth + 1])
                parents[ref] = "/".join(path[:depth]) or None
                fr = french[index][depth] if french else None
                en, known_fr = titles.get(ref, (path[depth], None))
                titles[ref] = (en, known_fr or fr)
            leaves.append("/".join(path))
        links[row["sku"]] = list(dict.fromkeys(leaves))
    return {"parents": parents, "titles": titles, "links": links, "bad": bad, "lines": lines}


# -- the whole split on the export ---------------------------------------------------------------


def test_every_path_builds_the_tree_and_products_link_to_every_leaf(tmp_path: Path) -> None:
    text = export_text()
    want = expected(text)
    result, staged = split(tmp_path, text)

    categories = {row["reference"]: row for row in staged["categories"]}
    assert {ref: row[PARENT_REF] for ref, row in categories.items()} == want["parents"]
    assert {
        ref: (row["cat_title_en"], row["cat_title_fr"]) for ref, row in categories.items()
    } == want["titles"]
    assert categories["Default Category/Promotions/Été"]["cat_title_fr"] is None
    products = {row["reference"]: row for row in staged["products"]}
    assert {ref: row[CATEGORY_REFS] for ref, row in products.items()} == want["links"]
    assert products["MH01"]["prod_description"] == ROWS[0][2]  # multi-line HTML kept as is

    rejects = list(csv.DictReader((tmp_path / "work" / "rejects.csv").open(encoding="utf-8")))
    category_rejects = {int(r["line"]): r for r in rejects if r["table"] == "categories"}
    line_of = want["lines"]
    assert set(category_rejects) == want["bad"] == {line_of[i] for i in BAD_ROWS}
    for index, words in BAD_ROWS.items():
        reject = category_rejects[line_of[index]]
        assert words in reject["reason"], reject
        assert reject["column"] == "categories"
        assert reject["value"] == ROWS[index][4]
    reasons = [category_rejects[line_of[i]]["reason"] for i in sorted(BAD_ROWS)]
    assert "'/'" in reasons[0] and "','" in reasons[1]
    assert "categories_fr" in reasons[2] and ROWS[5][5] in reasons[2]  # both values named
    # the products of a rejected cell go with it, pointing at that reject
    product_rejects = {int(r["line"]): r for r in rejects if r["table"] == "products"}
    assert set(product_rejects) == want["bad"]
    assert all("was rejected" in r["reason"] for r in product_rejects.values())

    # balanced: every level of every row is an item, a merge or one row's reject
    levels = sum(
        len(
            {
                "/".join(p.split("/")[: d + 1])
                for p in row[4].split(",")
                for d in range(p.count("/") + 1)
            }
        )
        for index, row in enumerate(ROWS)
        if index not in BAD_ROWS
    )
    counts = result.tables["categories"]
    assert counts.rows_in == levels + len(want["bad"])
    assert counts.rows_out == len(want["parents"])
    assert counts.rows_in == counts.rows_out + counts.merged + counts.rejected
    assert counts.rejected == len(want["bad"])


def test_without_titles_the_levels_have_none_and_the_fields_go_to_every_leaf(
    tmp_path: Path,
) -> None:
    tables = TABLES.replace(
        "      title: {field: cat_title, languages: [en, fr], path_language: en}\n",
        "    fields:\n      cat_description: description\n",
    )
    text = export_text()
    _, staged = split(tmp_path, text, tables)
    categories = {row["reference"]: row for row in staged["categories"]}
    assert "cat_title_en" not in staged["categories"][0]
    leaf = categories["Default Category/Collections/Eco Friendly"]
    assert leaf["cat_description"] == ROWS[0][2]
    assert categories["Default Category/Collections"]["cat_description"] is None


def test_a_missing_parallel_title_column_is_reported_before_any_row(tmp_path: Path) -> None:
    text = "\n".join(",".join(row[:5]) for row in [HEADER, ROWS[2]]) + "\n"
    with pytest.raises(MappingError, match="categories_fr"):
        split(tmp_path, text)
    plan = build_plans(config())[0]
    assert plan.source_columns() == ["categories", "categories_fr"]
    # the column preflight (validate --sample, and the run before reading) names the option
    header = Header("catalog_product.csv", tuple([*HEADER[:5], "categories_fra"]))
    [problem] = check_columns(config(), header)
    assert problem.named.field == "tables.categories.path.title.languages[1]"
    assert "'categories_fr'" in problem.message and "'categories_fra'" in problem.message


# -- the rules, value by value -------------------------------------------------------------------


def test_the_tree_of_a_cell_shares_levels_and_marks_every_leaf() -> None:
    tree = path_tree(
        " Default Category / Men ,Default Category/Gear,Default Category/Men", "/", ","
    )
    assert tree.refs == ("Default Category", "Default Category/Men", "Default Category/Gear")
    assert tree.parents == (None, "Default Category", "Default Category")
    assert tree.leaves == (False, True, True)
    assert tree.segments == ("Default Category", "Men", "Gear")
    assert tree.deepest == ("Default Category/Men", "Default Category/Gear")


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("A/B,", "empty path 2 of 2 (paths are separated by ',')"),
        (",A/B", "empty path 1 of 2"),
        ("A/B,  ,A/C", "empty path 2 of 3"),
        ("A//B,A/C", "has an empty level 2 (levels are separated by '/')"),
        ("A/B/,A/C", "has an empty level 3"),
        ("A/ /B", "has an empty level 2"),
    ],
)
def test_an_empty_path_or_level_is_a_reject_naming_the_separator(cell: str, words: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        path_tree(cell, "/", ",")
    assert words in caught.value.reason and caught.value.code == "bad_path"


def test_a_level_holding_a_separator_without_its_spaces_never_passes() -> None:
    with pytest.raises(ValueProblem, match=r"level 2 'Tops>Tees' .* holds '>', the path separator"):
        path_tree("Men > Tops>Tees | Women > Tops", " > ", " | ")
    with pytest.raises(ValueProblem, match=r"holds '\|', the list separator ' \| '"):
        path_tree("Men > Tops|Women", " > ", " | ")
    # one path, as before: a ">" inside a level is its own business
    assert path_tree("Men > Tops>Tees", " > ", None).refs[-1] == "Men > Tops>Tees"


def test_too_many_levels_in_one_cell_are_refused() -> None:
    cell = ",".join(f"P{i}/L{i}" for i in range(MAX_CELL_LEVELS // 2 + 1))
    with pytest.raises(ValueProblem, match="categories in one cell"):
        path_tree(cell, "/", ",")


def test_parallel_titles_must_have_the_same_shape_and_one_title_per_category() -> None:
    tree = path_tree("Home/Men,Home/Gear", "/", ",")
    assert path_titles(tree, "Maison/Homme,Maison/Équipement", "/", ",", ("c", "c_fr")) == (
        "Maison",
        "Homme",
        "Équipement",
    )
    assert path_titles(tree, "", "/", ",", ("c", "c_fr")) == (None, None, None)
    with pytest.raises(ValueProblem, match=r"'c_fr' \('Maison/Homme'\) do not match .* 'c'"):
        path_titles(tree, "Maison/Homme", "/", ",", ("c", "c_fr"))
    with pytest.raises(ValueProblem, match="'Home' two titles, 'Maison' and 'Domicile'"):
        path_titles(tree, "Maison/Homme,Domicile/Équipement", "/", ",", ("c", "c_fr"))
    with pytest.raises(ValueProblem, match="empty level in path 2 of 2"):
        path_titles(tree, "Maison/Homme,Maison/ ", "/", ",", ("c", "c_fr"))


def test_links_take_every_leaf_or_the_rejected_cell_whole() -> None:
    assert path_link_refs("A/B,A/C,A/B", "/", ",") == ["A/B", "A/C"]
    assert path_link_refs("A//B,A/C", "/", ",") == ["A//B,A/C"]
    assert path_link_refs(" , ", "/", ",") == []


def test_one_path_keeps_todays_references_and_messages() -> None:
    single = build_plans(
        config(
            TABLES.replace('      list_separator: ","\n', "").replace(
                "      title: {field: cat_title, languages: [en, fr], path_language: en}\n", ""
            )
        )
    )[0]
    assert item_reference(single, " A / B ") == ItemReference("A/B", ("A", "A/B"))
    empty = item_reference(single, "A//B")
    assert isinstance(empty, RejectedReference)
    assert empty.reason == "the category path has an empty level (levels are separated by '/')"
    # a comma is part of a level when no list separator is declared (today's behaviour)
    assert item_reference(single, "A/B,C").ref == "A/B,C"


def test_a_rejected_cell_keeps_every_path_present() -> None:
    plan = build_plans(config())[0]
    forms = set(present_forms("Home/Men/Tops,Home/Gear", plan))
    assert {"Home", "Home/Men", "Home/Men/Tops", "Home/Gear"} <= forms


# -- the config -----------------------------------------------------------------------------------


def test_the_products_link_takes_the_paths_list_separator() -> None:
    products = build_plans(config())[1]
    link = next(link for link in products.links if link.out == CATEGORY_REFS)
    assert (link.separator, link.path_separator, link.path_list_separator) == (",", "/", ",")


@pytest.mark.parametrize(
    ("tables", "where", "words"),
    [
        (
            TABLES.replace(
                "categories: {column: categories}",
                "categories: {column: categories, separator: '|'}",
            ),
            "tables.products.categories.separator",
            "remove `separator:` here",
        ),
        (
            # the products split the path column, the categories read one path per cell: they
            # would build categories named with the ',' inside
            TABLES.replace('      list_separator: ","\n', "").replace(
                "categories: {column: categories}",
                "categories: {column: categories, separator: ','}",
            ),
            "tables.products.categories.separator",
            "add `list_separator: ','` to its `path:`",
        ),
        (
            TABLES.replace('list_separator: ","', "list_separator: /"),
            "tables.categories.path",
            "must not contain one another",
        ),
        (
            TABLES.replace("path_language: en", "path_language: es"),
            "tables.categories.path.title",
            "is not in title.languages",
        ),
        (
            TABLES.replace("      prod_title: name\n", "      prod_title: name\n").replace(
                "    path:\n", "    fields: {cat_title_fr: name}\n    path:\n"
            ),
            "tables.categories.path.title",
            "set both by `path.title`",
        ),
        (
            TABLES.replace("separator: /", "separator: ''"),
            "tables.categories.path.separator",
            "at least 1 character",
        ),
    ],
)
def test_misused_options_fail_at_load_naming_the_field(tables: str, where: str, words: str) -> None:
    with pytest.raises(ConnectorConfigError) as caught:
        config(tables)
    message = str(caught.value)
    assert where in message and words in message, message


def test_the_field_preflight_checks_the_title_field() -> None:
    schema = declared_schema(
        {
            "languages": ["en", "es"],
            "tables": {
                "catalogue": {"fields": ["cat_name"], "links": {"cat_parent_ref": "catalogue"}},
                "products": {
                    "fields": ["prod_title", "prod_description", "prod_image"],
                    "links": {"cat_ref": "catalogue"},
                },
            },
        },
        "saleslayer_default",
    )
    problems = [(p.path, p.message) for p in check_names(config(), schema)]
    assert [path for path, _ in problems] == ["tables.categories.path.title"], problems
    assert "cat_title" in problems[0][1]


def test_one_path_per_cell_gets_titles_too_and_rows_that_disagree_conflict(
    tmp_path: Path,
) -> None:
    tables = """\
tables:
  categories:
    reference: path
    path:
      column: path
      title: {field: cat_title, languages: [en, es]}
"""
    text = (
        "path,path_en,path_es\n"
        "Men > Tops,Men > Tops,Hombre > Camisetas\n"
        "Men > Shoes,Men > Shoes,Hombres > Zapatos\n"  # 'Men' titled twice in Spanish
        'Women,Women,"Mujer"\n'
    )
    result, staged = split(tmp_path, text, tables)
    titles = {r["reference"]: (r["cat_title_en"], r["cat_title_es"]) for r in staged["categories"]}
    assert titles == {
        "Men": ("Men", "Hombre"),
        "Men > Tops": ("Tops", "Camisetas"),
        "Men > Shoes": ("Shoes", "Zapatos"),
        "Women": ("Women", "Mujer"),
    }
    [conflict] = list(csv.DictReader((tmp_path / "work" / "rejects.csv").open(encoding="utf-8")))
    assert (conflict["line"], conflict["reference"], conflict["column"]) == ("3", "Men", "path_es")
    assert "'cat_title_es'" in conflict["reason"] and "'Hombres'" in conflict["reason"]
    counts = result.tables["categories"]
    assert (counts.rows_in, counts.rows_out, counts.merged, counts.rejected) == (5, 4, 0, 1)
