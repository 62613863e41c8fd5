"""Safe YAML reading that remembers where every key and value stands in the file.

Only plain data is built (mappings, lists, strings, numbers, booleans, dates, null): PyYAML's
``SafeLoader`` refuses every tag that would construct a Python object, so a connector file can
never make the loader execute code. Duplicate keys, which plain YAML silently collapses to the
last one, are reported. Alias expansion is bounded so that a "billion laughs" file cannot exhaust
memory at DAG-parse time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp")
)

# libyaml's parser when PyYAML was built with it (10x faster than the pure-Python one; the
# constructor is SafeConstructor either way).
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Upper bound on nodes visited while expanding one file (aliases included).
MAX_NODES = 200_000


class YamlSourceError(Exception):
    """The text is not valid YAML, or uses a construct connector files do not allow."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class YamlDocument:
    """A parsed YAML document and the 1-based line of each path in it."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    duplicate_keys: list[tuple[Path_, int, int]] = field(default_factory=list)

    def line_of(self, path: Path_) -> int:
        """Line of the longest prefix of ``path`` that exists in the file (1 if none)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1


class _Builder:
    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.doc = YamlDocument(data=None)
        self.visited = 0

    def build(self, node: yaml.Node, path: Path_, line: int) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise YamlSourceError(
                line, f"the file expands to more than {MAX_NODES} values (nested aliases?)"
            )
        self.doc.lines.setdefault(path, line)
        if node.tag not in _PLAIN_TAGS:
            raise YamlSourceError(
                node.start_mark.line + 1,
                f"tag {node.tag!r} is not allowed; connector files may only hold plain data "
                "(no !!python or other custom tags)",
            )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [
                self.build(item, (*path, i), item.start_mark.line + 1)
                for i, item in enumerate(node.value)
            ]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise YamlSourceError(node.start_mark.line + 1, str(exc.problem or exc)) from None

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # resolves "<<:" merge keys
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                # YAML 1.1 reads `on:`/`yes:` as booleans and `1:` as a number: keep the text.
                key = str(key_node.value)
            key_line = key_node.start_mark.line + 1
            if key in result:
                self.doc.duplicate_keys.append(
                    ((*path, key), self.doc.lines[(*path, key)], key_line)
                )
            self.doc.lines[(*path, key)] = key_line
            result[key] = self.build(value_node, (*path, key), key_line)
        return result


def parse_yaml(text: str) -> YamlDocument:
    """Parse one YAML document into plain data plus line positions.

    Raises :class:`YamlSourceError` with the line of the first syntax error or forbidden tag.
    """
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            raise YamlSourceError(line, f"invalid YAML: {exc.problem or exc}") from None
        except yaml.YAMLError as exc:
            raise YamlSourceError(1, f"invalid YAML: {exc}") from None
        builder = _Builder(loader)
        if node is not None:
            try:
                builder.doc.data = builder.build(node, (), node.start_mark.line + 1)
            except RecursionError:
                raise YamlSourceError(
                    node.start_mark.line + 1, "the file nests too deeply (a recursive alias?)"
                ) from None
        return builder.doc
    finally:
        loader.dispose()
