"""XML exports (ERP feeds, Google Shopping feeds, BMEcat), streamed record by record.

``format: {type: xml, record: /catalog/products/product, namespaces: {g: URI}}``: every element
the ``record`` path matches is one record; the connector's columns are paths inside it.

Paths
    ``name`` a child element; ``price/amount`` deeper; ``@id`` an attribute of the record;
    ``price/@currency`` an attribute of a child; ``.`` the record itself; a step may test an
    attribute (``name[@lang='en']``, ``image[@main]``) or pick the n-th match (``image[1]``).
    ``g:price`` names an element in the namespace ``format.namespaces`` declares for ``g`` (by
    URI: the file may write another prefix for it); a name without a prefix matches an element
    written without one (in no namespace, or in a default namespace such as BMEcat's). The
    ``record`` path is ``/a/b/c`` (from the root), or ``//c`` / ``c`` / ``b/c`` (at any depth;
    a match inside a record is part of that record, not another one).

Values
    No element (or attribute) at the path: the key is absent, as an absent JSON key. One: its
    text. Several: a list of their texts, in document order (a list field takes each as one
    value, never split by its separator; a scalar field would get the list as JSON text, so pick
    one with a predicate). An element's text is its character data with entities and CDATA
    resolved (HTML in CDATA or escaped as ``&lt;p&gt;`` stays HTML text); an element holding
    child elements gives its inner markup as written (``<p>Hi <b>you</b></p>``: tags with their
    prefixes, text escaped, namespace declarations left out). Comments and processing
    instructions are dropped; whitespace is kept as written (add a ``trim`` transform).

Safety and memory
    lxml's ``iterparse`` with ``resolve_entities=False``, ``no_network=True``, no DTD loaded and
    libxml2's default limits (``huge_tree`` off: a text node of at most 10 MB, 256 levels): an
    external entity is never fetched and an entity bomb stops with libxml2's amplification error.
    A value holding an entity reference left unexpanded (``&nbsp;`` of a DTD never loaded) is a
    reject naming the entity, never a value with a hole. Every element outside a record is
    dropped when it ends, each record once read: memory holds one record (at most
    :data:`MAX_RECORD_BYTES` of the file) and its ancestors, whatever the file's size.

Lines and broken files
    A record's line is its start tag's (for a start tag written over several lines, the line
    where it ends), corrected past line 65,535 where libxml2 answers otherwise
    (:func:`start_line`). XML that is not well-formed mid-file (or a record larger than
    :data:`MAX_RECORD_BYTES`, a safety limit, bytes not valid in the declared encoding) ends the
    reading: the records before it are kept and one unreadable row at the error's line and
    column says that nothing after it was read, so the run reports it and never deletes on this
    export (``validation.completeness``). Before the first record, the whole file fails
    (:class:`SourceFileError`), as does a ``record`` path that matches nothing (listing the
    elements there are), unless it is absolute and its parent holds no other element: an export
    listing no record (``<products/>``) is zero records.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias
from xml.sax.saxutils import escape, quoteattr

from saleslayer_airflow.readers.errors import SourceFileError
from saleslayer_airflow.readers.records import RowProblem, SourceRow

if TYPE_CHECKING:
    from lxml import etree

    #: An element of the streamed document (lxml is imported when a file is read, not before).
    Element: TypeAlias = etree._Element

    from saleslayer_airflow.config.formats import XmlFormat

#: The ``xml`` prefix is bound by the XML specification itself (``@xml:lang``).
XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
#: A record (its bytes in the file) larger than this ends the reading: memory holds one record.
MAX_RECORD_BYTES = 16 * 1024 * 1024
#: Bytes handed to the parser at a time.
_CHUNK = 1 << 16
#: Element paths kept for a message when ``record`` matches nothing.
_SHOWN_PATHS = 30
#: Paths inside a record listed for the column preflight: this deep at most, this many at most.
MAX_PATH_DEPTH = 8
MAX_PATHS = 5_000

_NAME = r"[A-Za-z_\u00c0-\uffff][\w.\-\u00b7\u00c0-\uffff]*"
_QNAME = rf"(?:{_NAME}:)?{_NAME}"
_STEP = re.compile(rf"(?P<attr>@)?(?P<name>{_QNAME}|\.)")
_PREDICATE_ANYWHERE = re.compile(r"\[(?:[^\]'\"]|'[^']*'|\"[^\"]*\")*\]")
_PREDICATE = re.compile(
    rf"\[\s*(?:@(?P<attr>{_QNAME})\s*(?:=\s*(?:'(?P<sq>[^']*)'|\"(?P<dq>[^\"]*)\"))?"
    r"|(?P<pos>[1-9][0-9]{0,8}))\s*\]"
)


# -- paths ---------------------------------------------------------------------------------------


def check_namespaces(namespaces: Mapping[str, str]) -> None:
    """Each prefix an XML name, each URI non-empty; ``xml`` only as the XML namespace."""
    for prefix, uri in namespaces.items():
        if not re.fullmatch(_NAME, prefix):
            raise ValueError(
                f"namespace prefix {prefix!r} is not an XML name (letters, digits, '_', '-', "
                "'.', starting with a letter or '_'; no ':')"
            )
        if not uri.strip():
            raise ValueError(f"namespace prefix {prefix!r} has an empty URI")
        if prefix == "xml" and uri != XML_NAMESPACE:
            raise ValueError(f"the prefix 'xml' is always {XML_NAMESPACE!r}; do not redeclare it")


@dataclass(frozen=True, slots=True)
class _Name:
    """A name of a path: ``local`` in namespace ``uri`` (None: written without a prefix)."""

    local: str
    uri: str | None
    #: lxml's ``{uri}local`` (an unprefixed attribute has no namespace)
    clark: str = ""

    def __post_init__(self) -> None:
        clark = self.local if self.uri is None else f"{{{self.uri}}}{self.local}"
        object.__setattr__(self, "clark", clark)


@dataclass(frozen=True, slots=True)
class _Step:
    name: _Name
    #: attribute tests: (clark name, wanted value or None for "the attribute is there")
    tests: tuple[tuple[str, str | None], ...] = ()
    #: 1-based position among the matches of the name and tests
    position: int | None = None

    def matches(self, element: etree._Element) -> bool:
        """Whether ``element`` is this step, its local name known to be the step's."""
        if self.name.uri is None:
            if element.prefix is not None:
                return False
        elif element.tag != self.name.clark:
            return False
        for attr, wanted in self.tests:
            found = element.get(attr)
            if found is None or (wanted is not None and found != wanted):
                return False
        return True

    def is_step(self, element: etree._Element) -> bool:
        """Whether ``element`` (any element) is this step."""
        tag = element.tag
        if not isinstance(tag, str):
            return False
        if self.name.uri is not None:
            fits = tag == self.name.clark
        else:
            fits = tag == self.name.local or tag.endswith(f"}}{self.name.local}")
        return fits and self.matches(element)


@dataclass(frozen=True, slots=True)
class XmlPath:
    """A compiled path: element steps from the record, and an attribute at their end."""

    text: str
    steps: tuple[_Step, ...]
    attribute: str | None = None
    #: record paths: from the root (True), or at any depth
    absolute: bool = False


def _name(text: str, qname: str, namespaces: Mapping[str, str]) -> _Name:
    prefix, _, local = qname.rpartition(":")
    if not prefix:
        return _Name(local, None)
    if prefix == "xml":
        return _Name(local, XML_NAMESPACE)
    uri = namespaces.get(prefix)
    if uri is None:
        declared = ", ".join(sorted(namespaces)) or "none"
        raise ValueError(
            f"XML path {text!r} uses the prefix {prefix!r}, which format.namespaces does not "
            f"declare (declared: {declared}); add it with the namespace URI the file declares "
            f'for it (xmlns:{prefix}="..."), e.g. namespaces: {{{prefix}: <URI>}}'
        )
    return _Name(local, uri)


def _predicates(
    text: str, pos: int, namespaces: Mapping[str, str]
) -> tuple[tuple[tuple[str, str | None], ...], int | None, int]:
    """The ``[...]`` tests of a step from ``pos``: attribute tests, a position, and the end."""
    tests: list[tuple[str, str | None]] = []
    position: int | None = None
    while (predicate := _PREDICATE.match(text, pos)) is not None:
        pos = predicate.end()
        if predicate.group("pos"):
            if position is not None:
                raise ValueError(f"XML path {text!r}: one position per step")
            position = int(predicate.group("pos"))
            continue
        wanted = predicate.group("sq")
        if wanted is None:
            wanted = predicate.group("dq")
        tests.append((_name(text, predicate.group("attr"), namespaces).clark, wanted))
    return tuple(tests), position, pos


def _parse(text: str, namespaces: Mapping[str, str]) -> tuple[list[_Step], str | None]:
    """The element steps and the final attribute of a relative path."""
    steps: list[_Step] = []
    attribute: str | None = None
    pos = 0
    while True:
        match = _STEP.match(text, pos)
        if match is None or attribute is not None:
            where = "after an attribute" if attribute is not None else f"at character {pos + 1}"
            raise ValueError(
                f"XML path {text!r}: unexpected {text[pos : pos + 20]!r} {where}; write element "
                "names separated by '/', optionally ending in @attribute (e.g. "
                "'price/@currency', \"name[@lang='en']\", 'images/image')"
            )
        pos = match.end()
        name = match.group("name")
        if match.group("attr"):
            if name == ".":
                raise ValueError(f"XML path {text!r}: '@' needs an attribute name")
            attribute = _name(text, name, namespaces).clark
        else:
            tests, position, pos = _predicates(text, pos, namespaces)
            if name == ".":
                if tests or position is not None:
                    raise ValueError(f"XML path {text!r}: '.' takes no [test]")
            else:
                steps.append(_Step(_name(text, name, namespaces), tests, position))
        if pos == len(text):
            return steps, attribute
        if text[pos] != "/":
            raise ValueError(
                f"XML path {text!r}: unexpected {text[pos : pos + 20]!r} at character {pos + 1}; "
                "a test is written [@attr='value'], [@attr] or [n]"
            )
        pos += 1


def plain_path(text: str) -> str:
    """``text`` without its ``[tests]`` and ``.`` steps, as :func:`discover_paths` writes paths
    (``name[@lang='en']`` -> ``name``; ``.`` -> '')."""
    plain = _PREDICATE_ANYWHERE.sub("", text)
    return "/".join(step for step in plain.split("/") if step != ".")


def field_path(text: str, namespaces: Mapping[str, str]) -> XmlPath:
    """A column of an XML connector: a path inside the record (raises ValueError)."""
    if text.startswith("/"):
        raise ValueError(
            f"XML path {text!r}: field paths start at the record; write {text.lstrip('/')!r}"
        )
    steps, attribute = _parse(text, namespaces)
    return XmlPath(text, tuple(steps), attribute)


def record_path(text: str, namespaces: Mapping[str, str]) -> XmlPath:
    """``format.record`` (raises ValueError)."""
    absolute = text.startswith("/") and not text.startswith("//")
    steps, attribute = _parse(text.lstrip("/"), namespaces)
    if attribute is not None or not steps:
        raise ValueError(
            f"record path {text!r} must name elements (e.g. '/catalog/products/product' or "
            "'//item'), not an attribute or '.'"
        )
    if any(step.position is not None for step in steps):
        raise ValueError(
            f"record path {text!r}: [n] positions are not allowed in the record path (every "
            "match is a record); use an attribute test such as [@type='product']"
        )
    return XmlPath(text, tuple(steps), None, absolute)


# -- values --------------------------------------------------------------------------------------


class _EntityLeft(Exception):
    """A value holds an entity reference the parser left unexpanded."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _shown_name(element: Element, qname: str) -> str:
    if not qname.startswith("{"):
        return qname
    uri, _, local = qname[1:].partition("}")
    if uri == XML_NAMESPACE:
        return f"xml:{local}"
    for prefix, bound in element.nsmap.items():
        if bound == uri and prefix:
            return f"{prefix}:{local}"
    return local


def _write(element: Element, parts: list[str]) -> None:
    from lxml import etree

    if isinstance(element, etree._Entity):
        raise _EntityLeft(element.text or "")
    if isinstance(element.tag, str):
        local = _local(element.tag)
        name = f"{element.prefix}:{local}" if element.prefix else local
        attrs = "".join(
            f" {_shown_name(element, key)}={quoteattr(value)}"
            for key, value in element.attrib.items()
        )
        if len(element) == 0 and not element.text:
            parts.append(f"<{name}{attrs}/>")
        else:
            parts.append(f"<{name}{attrs}>{escape(element.text or '')}")
            for child in element:
                _write(child, parts)
            parts.append(f"</{name}>")
    parts.append(escape(element.tail or ""))


def element_text(element: Element) -> str:
    """An element's value (see the module's docstring): its text, or its inner markup."""
    if len(element) == 0:
        return element.text or ""
    from lxml import etree

    children = list(element)
    if not any(isinstance(child.tag, str) for child in children):
        # only entity references (comments and PIs are removed by the parser)
        for child in children:
            if isinstance(child, etree._Entity):
                raise _EntityLeft(child.text or "")
    parts = [escape(element.text or "")]
    for child in children:
        _write(child, parts)
    return "".join(parts)


def children_by_name(element: Element) -> dict[str, list[Element]]:
    """``element``'s child elements by local name, in document order."""
    index: dict[str, list[Element]] = {}
    for child in element:
        tag = child.tag
        if isinstance(tag, str):
            index.setdefault(tag.rpartition("}")[2], []).append(child)
    return index


def path_values(
    path: XmlPath, record: Element, index: dict[str, list[Element]] | None = None
) -> list[str]:
    """The texts (or attribute values) at ``path`` in ``record``, in document order;
    ``index``: the record's :func:`children_by_name` (made once for all of its paths)."""
    nodes = [record]
    for depth, step in enumerate(path.steps):
        local = step.name.local
        found = []
        for node in nodes:
            if depth == 0:
                if index is None:
                    index = children_by_name(record)
                kids = index.get(local, ())
            else:
                kids = [c for c in node if isinstance(c.tag, str) and _local(c.tag) == local]
            matches = [c for c in kids if step.matches(c)]
            if step.position is None:
                found += matches
            elif len(matches) >= step.position:
                found.append(matches[step.position - 1])
        if not found:
            return []
        nodes = found
    if path.attribute is not None:
        return [value for node in nodes if (value := node.get(path.attribute)) is not None]
    return [element_text(node) for node in nodes]


def discover_paths(record: Element, namespaces: Mapping[str, str]) -> list[str]:
    """The paths a record holds, as a connector writes them: attributes, elements (depth
    :data:`MAX_PATH_DEPTH`, at most :data:`MAX_PATHS`), prefixes as ``namespaces`` declares
    them (an undeclared namespace: the file's own prefix, which the config must declare)."""
    declared = {uri: prefix for prefix, uri in namespaces.items()}
    declared[XML_NAMESPACE] = "xml"
    found: dict[str, None] = {}

    def shown(qname: str, element: Element, is_element: bool) -> str:
        if not qname.startswith("{"):
            return qname
        uri, _, local = qname[1:].partition("}")
        if is_element and element.prefix is None:
            return local
        prefix = declared.get(uri)
        if prefix is None:
            prefix = element.prefix if is_element else _shown_name(element, qname).partition(":")[0]
        return f"{prefix}:{local}" if prefix else local

    def walk(element: Element, prefix: str, depth: int) -> None:
        for key in element.attrib:
            found.setdefault(f"{prefix}@{shown(key, element, False)}")
        if depth >= MAX_PATH_DEPTH:
            return
        for child in element:
            if len(found) >= MAX_PATHS:
                return
            if not isinstance(child.tag, str):
                continue
            path = prefix + shown(child.tag, child, True)
            found.setdefault(path)
            walk(child, f"{path}/", depth + 1)

    walk(record, "", 0)
    return list(found)[:MAX_PATHS]


# -- reading -------------------------------------------------------------------------------------


class _RecordTooLarge(Exception):
    pass


class _BadBytes(Exception):
    def __init__(self, line: int, shown: str) -> None:
        super().__init__(shown)
        self.line = line
        self.shown = shown


class _Source:
    """The landed file as the parser reads it: counted (a record may not exceed
    :data:`MAX_RECORD_BYTES`) and, with ``format.encoding``, transcoded to UTF-8 by Python's
    codec (the file's declaration is then overridden)."""

    def __init__(self, raw: BinaryIO, encoding: str | None) -> None:
        self._raw = raw
        self.consumed = 0
        #: bytes consumed when the current record started (None: outside a record)
        self.record_start: int | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._lines = 1
        if encoding is not None:
            codec = codecs.lookup(encoding).name
            self._decoder = codecs.getincrementaldecoder(
                "utf-8-sig" if codec == "utf-8" else codec
            )("strict")

    def read(self, size: int = -1) -> bytes:
        if self.record_start is not None and self.consumed - self.record_start > MAX_RECORD_BYTES:
            raise _RecordTooLarge
        data = self._raw.read(_CHUNK if size is None or size < 0 else min(size, _CHUNK))
        self.consumed += len(data)
        if self._decoder is None:
            return data
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            good = exc.object[: exc.start].decode(exc.encoding, "replace")
            bad = exc.object[exc.start : exc.end]
            raise _BadBytes(self._lines + good.count("\n"), bad.hex(" ")) from None
        self._lines += text.count("\n")
        return text.encode("utf-8", "surrogatepass")


@dataclass
class _Walk:
    """Where the parse is, outside records."""

    #: open elements from the root (outside records)
    stack: list[Element] = field(default_factory=list)
    #: element paths seen, for a ``record`` path that matches nothing
    seen: dict[str, None] = field(default_factory=dict)
    #: an absolute record path's parent element was found...
    parent_found: bool = False
    #: ... holding other elements than records (then no record there is a mistake, not an
    #: empty list)
    parent_holds_others: bool = False


class XmlReader:
    """The records of an XML export (see the module's docstring), as :class:`SourceRow` objects
    whose cells map each of ``paths`` the record holds to its value (a text, or a list of texts
    for several elements); ``paths`` None: every path the record holds
    (:func:`discover_paths`). The file is parsed up to its first record here: a file that cannot
    be read at all raises :class:`SourceFileError` now."""

    columns: Sequence[str] | None = None

    def __init__(
        self, raw: BinaryIO, fmt: XmlFormat, name: str, paths: Sequence[str] | None = None
    ) -> None:
        self.name = name
        self._fmt = fmt
        try:
            self._record = record_path(fmt.record, fmt.namespaces)
            self._paths = (
                None
                if paths is None
                else {p: field_path(p, fmt.namespaces) for p in dict.fromkeys(paths)}
            )
        except ValueError as exc:
            raise SourceFileError(name, f"{exc}") from None
        #: records read (and the unreadable row of a broken file)
        self.records = 0
        self._source = _Source(raw, fmt.encoding)
        self._rows = self._generate()
        self._first = next(self._rows, None)

    def __iter__(self) -> Iterator[SourceRow]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
            yield from self._rows

    def _events(self) -> Any:
        from lxml import etree

        return etree.iterparse(
            self._source,
            events=("start", "end"),
            encoding="utf-8" if self._fmt.encoding is not None else None,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            remove_comments=True,
            remove_pis=True,
            huge_tree=False,
        )

    def _cells(self, record: Element) -> tuple[dict[str, Any], RowProblem | None]:
        paths = self._paths
        if paths is None:
            paths = {}
            for text in discover_paths(record, self._fmt.namespaces):
                try:
                    paths[text] = field_path(text, self._fmt.namespaces)
                except ValueError:
                    continue  # a namespace the config does not declare: no value to read
        cells: dict[str, Any] = {}
        index = children_by_name(record)
        for text, path in paths.items():
            try:
                values = path_values(path, record, index)
            except _EntityLeft as exc:
                reason = (
                    f"the value at {text!r} holds the entity reference {exc.name} that the "
                    "export's DTD would define; entities are never expanded (a DTD is not "
                    "loaded): export the text itself (or a character reference such as &#160;)"
                )
                return cells, RowProblem(reason, column=text, value=exc.name, code="xml_entity")
            if values:
                cells[text] = values[0] if len(values) == 1 else values
        return cells, None

    def _generate(self) -> Iterator[SourceRow]:
        from lxml import etree

        walk = _Walk()
        steps = self._record.steps
        last = steps[-1]
        record: Element | None = None
        record_line = 0
        events = self._events()
        try:
            for event, element in events:
                if record is not None:
                    if event == "end" and element is record:
                        cells, problem = self._cells(element)
                        self.records += 1
                        yield SourceRow(start_line(element), cells, problem)
                        record = None
                        self._source.record_start = None
                        walk.stack.pop()
                        _drop(element)
                    continue
                if event == "start":
                    walk.stack.append(element)
                    if self._is_record(walk, element, last):
                        record = element
                        record_line = start_line(element)
                        self._source.record_start = self._source.consumed
                    else:
                        self._note(walk)
                    continue
                walk.stack.pop()
                _drop(element)
        except etree.XMLSyntaxError as exc:
            line, column = exc.position if exc.position else (exc.lineno or 0, 0)
            where = f"at line {line}, column {column}"
            if record is not None and line < record_line:
                # libxml2 counts the lines of an entity's replacement text from 1
                line, where = (
                    record_line,
                    f"in the text of an entity used by the record on line {record_line}",
                )
            message = exc.msg or ""
            what = "exceeds a safety limit" if _hint(message, limits=True) else "is not well-formed"
            detail = f"the XML {what} {where}: {message}"
            yield from self._broken(detail + _hint(message), line, record, record_line)
            return
        except _RecordTooLarge:
            detail = (
                f"the record that starts on line {record_line} is larger than "
                f"{MAX_RECORD_BYTES // (1 << 20)} MiB: is format.record the element of one "
                "product? (memory holds one record at a time)"
            )
            yield from self._broken(detail, record_line, None, record_line)
            return
        except _BadBytes as exc:
            detail = (
                f"bytes that are not valid {self._fmt.encoding} at line {exc.line} ({exc.shown}); "
                "check format.encoding (unset: the file's XML declaration decides)"
            )
            yield from self._broken(detail, exc.line, record, record_line)
            return
        if self.records == 0 and (not walk.parent_found or walk.parent_holds_others):
            raise SourceFileError(self.name, self._no_records(walk))

    def _is_record(self, walk: _Walk, element: Element, last: _Step) -> bool:
        steps = self._record.steps
        stack = walk.stack
        if self._record.absolute:
            depth = len(stack)
            if depth == len(steps) - 1 and not walk.parent_found:
                walk.parent_found = all(s.is_step(e) for s, e in zip(steps, stack, strict=False))
            if depth != len(steps):
                return False
        elif len(stack) < len(steps):
            return False
        start = len(stack) - len(steps)
        parent = all(steps[i].is_step(stack[start + i]) for i in range(len(steps) - 1))
        if parent and last.is_step(element):
            return True
        if parent and self._record.absolute:
            walk.parent_holds_others = True
        return False

    def _note(self, walk: _Walk) -> None:
        if len(walk.seen) >= _SHOWN_PATHS * 4:
            return
        walk.seen.setdefault(
            "/"
            + "/".join(
                f"{e.prefix}:{_local(str(e.tag))}" if e.prefix else _local(str(e.tag))
                for e in walk.stack
            )
        )

    def _no_records(self, walk: _Walk) -> str:
        import difflib

        seen = list(walk.seen)
        shown = ", ".join(seen[:_SHOWN_PATHS]) + (" ..." if len(seen) > _SHOWN_PATHS else "")
        close = difflib.get_close_matches(self._fmt.record, seen, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (
            f"no element matches format.record {self._fmt.record!r}, so the file holds no "
            f"record.{hint} The elements outside records ({len(seen)}): {shown or 'none'}. "
            "A name without a prefix matches an element written without one; a prefixed one "
            "needs format.namespaces"
        )

    def _broken(
        self, detail: str, line: int, record: Element | None, record_line: int
    ) -> Iterator[SourceRow]:
        """The end of a file that cannot be read further: the whole file fails when no record
        was read, else one unreadable row says where the reading stopped."""
        if self.records == 0:
            raise SourceFileError(self.name, detail, line=line or None)
        cut = (
            f" (the record that starts on line {record_line} is cut there)"
            if record is not None
            else ""
        )
        reason = (
            f"{detail}; nothing after this point was read{cut}, so records after it may be "
            "missing from this run: fix the export"
        )
        self.records += 1
        yield SourceRow(line, {}, RowProblem(reason, code="bad_xml"))


#: libxml2 keeps an element's line exactly up to this line; past it, it answers with the line
#: of the first text node inside (or after) the element, taken where that text ends.
_BIG_LINE = 65_535


def start_line(element: Element) -> int:
    """The line of ``element``'s start tag, read once the element is complete.

    Past line 65,535 libxml2 gives the line where the element's first text ends (its own, or
    that of its first descendant, or its tail when it holds nothing): the line breaks in that
    text are taken off, which gives the start tag's line for every layout exports use (a start
    tag followed by an indented child, by text, by CDATA, or an empty element)."""
    line: int = element.sourceline or 0
    if line < _BIG_LINE:
        return line
    node = element
    while True:
        if node.text is not None:
            return line - int(node.text.count("\n"))
        if len(node) == 0:
            return line - int((node.tail or "").count("\n"))
        node = node[0]
        if (node.sourceline or 0) < _BIG_LINE:
            return line


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _hint(message: str, *, limits: bool = False) -> str:
    """What to make of libxml2's ``message``; ``limits``: only for a safety limit ('' else)."""
    if "amplification" in message or "entity reference loop" in message.lower():
        return (
            " (the file declares entities that expand to far more text than it holds: an "
            "'XML bomb'; entities are never expanded)"
        )
    if "Excessive depth" in message:
        return " (elements nested more than 256 levels deep are not read)"
    if "Resource limit" in message or "huge" in message.lower():
        return " (a text over 10 MB is not read: memory stays bounded)"
    if limits:
        return ""
    if "not proper UTF-8" in message or "encoding" in message.lower():
        return " (if the XML declaration names the wrong encoding, set format.encoding)"
    return ""


def _drop(element: Element) -> None:
    """Free an element that was read, and its preceding siblings (read before it)."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


__all__ = [
    "MAX_RECORD_BYTES",
    "XmlPath",
    "XmlReader",
    "check_namespaces",
    "discover_paths",
    "element_text",
    "field_path",
    "path_values",
    "plain_path",
    "record_path",
]
