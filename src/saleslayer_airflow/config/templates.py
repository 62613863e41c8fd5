"""What a template in a connector file may use: the run's dates and params, nothing else.

A connector file is data, often edited by people who may not read Airflow's connections and
variables. Airflow's own template context reaches them (``conn.<id>.password``,
``var.value.<key>``, ``ti``, ``dag``...), and whatever a path or an endpoint renders travels to
the ERP server in a URL and lands in XCom, staging file names, the fetch history and the logs.
So templates in connector files are checked twice:

* when the file is read (:func:`check_template`): the template may name only
  :data:`ALLOWED_NAMES`, only the date helpers of ``macros`` (:data:`ALLOWED_MACROS`), no
  attribute or key starting with ``_``, no ``include``/``import``/``extends``;
* when the fetch task renders (:func:`render_value`): a sandboxed, immutable Jinja environment
  whose context holds only those names (:func:`run_template_context`), not Airflow's context, so
  a file that escaped the first check (edited after validation, a new Airflow context key) still
  reaches no connection or variable.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType, SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2
    from jinja2 import nodes

#: The names a template may use. The dates are those of Airflow's context (``ds`` and
#: ``ds_nodash`` come from the run's ``export_date`` param when given, or from the date the run
#: was triggered for runs without a logical date); ``run_after`` is when the run was due.
DATE_NAMES = (
    "ds",
    "ds_nodash",
    "ts",
    "ts_nodash",
    "ts_nodash_with_tz",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "run_after",
)
ALLOWED_NAMES = frozenset({*DATE_NAMES, "params", "macros"})
#: The members of ``macros`` a template may use: pure date helpers.
ALLOWED_MACROS = frozenset({"ds_add", "ds_format", "datetime", "timedelta"})

SCOPE = (
    "templates in connector files see only the run's dates and params "
    f"({', '.join(DATE_NAMES)}, params, macros.{', macros.'.join(sorted(ALLOWED_MACROS))}); "
    "credentials belong in the Airflow connection named by conn_id"
)

#: A string repeated or a number raised beyond this is refused while rendering.
_MAX_REPEAT = 10_000


class TemplateNotAllowed(ValueError):
    """A template of a connector file uses something outside :data:`ALLOWED_NAMES`."""


class TemplateRenderError(ValueError):
    """A template of a connector file could not be rendered for this run. The message names the
    field and what the template may use; it never holds a rendered value."""


# ------------------------------------------------------------------------------- the check


def check_template(value: str) -> str:
    """Refuse Jinja syntax errors and anything outside the allowed names, when the file is read.

    :raises TemplateNotAllowed: (a ValueError, so pydantic reports it at the field's line)
    """
    import jinja2

    try:
        tree = _environment().parse(value)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"invalid Jinja template {value!r}: {exc.message}") from None
    try:
        reason = next(_refusals(tree), None)
    except jinja2.TemplateSyntaxError as exc:  # e.g. an unknown filter, found by compiling
        raise ValueError(f"invalid Jinja template {value!r}: {exc.message}") from None
    if reason is not None:
        raise TemplateNotAllowed(f"template {value!r} {reason}: {SCOPE}")
    return value


def _refusals(tree: nodes.Template) -> Iterator[str]:
    """Why the template may not be used, first reason first (nothing: it may)."""
    from jinja2 import meta, nodes

    for name in sorted(meta.find_undeclared_variables(tree)):
        if name not in ALLOWED_NAMES:
            yield f"uses `{name}`"
    # Names the template sets itself ({% set %}, {% for %}, macro arguments) and Jinja's own
    # `loop`; anything else (`self`, `caller`...) is refused too.
    local = {"loop"} | {
        node.name
        for node in _walk(tree)
        if isinstance(node, nodes.Name) and node.ctx in {"store", "param"}
    }
    for node in _walk(tree):
        used = node.name if isinstance(node, nodes.Name) and node.ctx == "load" else None
        if used is not None and used not in ALLOWED_NAMES and used not in local:
            yield f"uses `{used}`"
        yield from _node_refusals(node)


def _node_refusals(node: nodes.Node) -> Iterator[str]:
    from jinja2 import nodes

    if isinstance(node, nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends):
        yield "includes or imports another template"
    elif isinstance(node, nodes.Getattr):
        yield from _member_refusals(node.node, node.attr)
    elif isinstance(node, nodes.Getitem):
        key = node.arg.value if isinstance(node.arg, nodes.Const) else None
        if _is_macros(node.node) and not isinstance(key, str):
            yield "looks up a member of `macros` by a computed key"
        elif isinstance(key, str):
            yield from _member_refusals(node.node, key)
    elif isinstance(node, nodes.Filter | nodes.Test):
        kind = "filter" if isinstance(node, nodes.Filter) else "test"
        known = _environment().filters if kind == "filter" else _environment().tests
        if node.name not in known:
            yield f"uses the unknown {kind} `{node.name}`"
        for arg in [*node.args, *(keyword.value for keyword in node.kwargs)]:
            if isinstance(arg, nodes.Const) and str(arg.value).startswith("_"):
                yield f"passes {arg.value!r} to the {kind} `{node.name}`"


def _member_refusals(owner: nodes.Node, member: str) -> Iterator[str]:
    if member.startswith("_"):
        yield f"reads the private member `{member}`"
    elif _is_macros(owner) and member not in ALLOWED_MACROS:
        yield f"uses `macros.{member}`"


def _is_macros(node: nodes.Node) -> bool:
    from jinja2 import nodes

    return isinstance(node, nodes.Name) and node.name == "macros"


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    for child in node.iter_child_nodes():
        yield child
        yield from _walk(child)


# ------------------------------------------------------------------------------- the render


def run_template_context(
    context: Mapping[str, Any], export_date: _dt.date | None = None
) -> dict[str, Any]:
    """The names a connector template sees, taken from Airflow's task ``context``.

    ``export_date`` (when not None) sets ``ds``/``ds_nodash``. A name Airflow does not provide
    for this run (``logical_date`` of a run without one) is left out: the template fails naming
    it (StrictUndefined) rather than rendering an empty path.
    """
    found: dict[str, Any] = {}
    for name in ("ts", "ts_nodash", "ts_nodash_with_tz", "ds", "ds_nodash"):
        if context.get(name) is not None:
            found[name] = str(context[name])
    for name in ("logical_date", "data_interval_start", "data_interval_end"):
        if context.get(name) is not None:
            found[name] = context[name]
    run_after = getattr(context.get("dag_run"), "run_after", None)
    if run_after is not None:
        found["run_after"] = run_after
    if export_date is not None:
        found["ds"] = export_date.isoformat()
        found["ds_nodash"] = export_date.strftime("%Y%m%d")
    params = context.get("params") or {}
    found["params"] = MappingProxyType({key: params[key] for key in params})
    found["macros"] = _macros()
    return found


def render_value(value: Any, names: Mapping[str, Any], where: str = "source") -> Any:
    """``value`` with every string in it (in dicts and lists too) rendered with ``names`` only.

    Dict keys are not rendered (as Airflow does). ``where`` names the field in errors.

    :raises TemplateRenderError: a template uses a name it may not, or fails to render.
    """
    import jinja2

    if isinstance(value, str):
        if "{" not in value:  # fast path, and keeps non-template strings byte for byte
            return value
        try:
            check_template(value)
        except ValueError as exc:  # TemplateNotAllowed, or a syntax error
            raise TemplateRenderError(f"{where}: {exc}") from None
        try:
            return _environment().from_string(value).render(names)
        except (jinja2.TemplateError, ArithmeticError, TypeError) as exc:
            # The message of a Jinja error names the template's parts, never a rendered value.
            raise TemplateRenderError(
                f"{where}: template {value!r} cannot be rendered for this run "
                f"({type(exc).__name__}: {exc}); {SCOPE}"
            ) from None
    if isinstance(value, list):
        return [render_value(item, names, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: render_value(item, names, f"{where}.{key}") for key, item in value.items()}
    return value


def _macros() -> SimpleNamespace:
    def ds_add(ds: str, days: int) -> str:
        """``ds`` plus ``days`` days, as YYYY-MM-DD (Airflow's ``macros.ds_add``)."""
        return (_dt.date.fromisoformat(ds) + _dt.timedelta(days=days)).isoformat()

    def ds_format(ds: str, input_format: str, output_format: str) -> str:
        """``ds`` re-formatted (Airflow's ``macros.ds_format``)."""
        return _dt.datetime.strptime(str(ds), input_format).strftime(output_format)

    return SimpleNamespace(
        ds_add=ds_add, ds_format=ds_format, datetime=_dt.datetime, timedelta=_dt.timedelta
    )


def _date_filter(fmt: str | None) -> Callable[[_dt.date | None], str | None]:
    def apply(value: _dt.date | None) -> str | None:
        if value is None:
            return None
        if fmt is None:
            return value.isoformat()
        if fmt == "tz":
            return value.isoformat().replace("-", "").replace(":", "")
        return value.strftime(fmt)

    return apply


@functools.cache
def _environment() -> jinja2.Environment:
    """The one environment templates are parsed and rendered with: sandboxed and immutable
    (no attribute starting with ``_``, no mutation of params), undefined names are errors, no
    globals (``range``, ``lipsum``, ``namespace``...), Airflow's date filters."""
    import jinja2
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _Env(ImmutableSandboxedEnvironment):
        # A template that repeats a string or raises a number a billion times would hold
        # the worker: refuse the operation instead.
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            sizes = [abs(x) for x in (left, right) if isinstance(x, int)]
            if sizes and max(sizes) > _MAX_REPEAT:
                raise SecurityError(f"`{operator}` with an operand above {_MAX_REPEAT}")
            return super().call_binop(context, operator, left, right)

    env = _Env(undefined=jinja2.StrictUndefined, autoescape=False, cache_size=0)
    env.globals.clear()
    env.filters.update(
        {
            "ds": _date_filter("%Y-%m-%d"),
            "ds_nodash": _date_filter("%Y%m%d"),
            "ts": _date_filter(None),
            "ts_nodash": _date_filter("%Y%m%dT%H%M%S"),
            "ts_nodash_with_tz": _date_filter("tz"),
        }
    )
    return env
