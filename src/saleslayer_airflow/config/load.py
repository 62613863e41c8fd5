"""Read connector files: YAML text -> checked ConnectorConfig, or a list of located problems."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from saleslayer_airflow.config.models import ConnectorConfig
from saleslayer_airflow.config.problems import (
    Deprecation,
    deprecated_keys,
    problems_from_validation,
)
from saleslayer_airflow.config.yaml_source import YamlSourceError, parse_yaml
from saleslayer_airflow.exceptions import ConnectorConfigError, Problem

CONNECTOR_SUFFIXES = (".yaml", ".yml")


def display_path(path: Path, base: Path | None = None) -> str:
    """The path as people look for it: relative to ``base`` (default: the working directory)
    when the file is inside it, else absolute."""
    absolute = path.absolute()
    root = (base if base is not None else Path.cwd()).absolute()
    return str(absolute.relative_to(root)) if absolute.is_relative_to(root) else str(absolute)


def parse_connector(text: str, file: str) -> ConnectorConfig:
    """Check one connector file's text. Raises ConnectorConfigError listing every problem.

    Deprecated keys load like their new names; :func:`load_connectors` reports them.
    """
    return _parse(text, file)[0]


def _parse(text: str, file: str) -> tuple[ConnectorConfig, list[Deprecation]]:
    try:
        doc = parse_yaml(text)
    except YamlSourceError as exc:
        raise ConnectorConfigError([Problem(file, exc.line, "(yaml)", exc.message)]) from None
    problems = [
        Problem(
            file,
            second,
            ".".join(str(p) for p in key_path),
            f"key given twice (first on line {first}); YAML would silently keep only the last",
        )
        for key_path, first, second in doc.duplicate_keys
    ]
    if not isinstance(doc.data, dict):
        what = "empty" if doc.data is None else f"a {type(doc.data).__name__}"
        problems.append(
            Problem(
                file, 1, "(top level)", f"a connector file is a mapping of keys; this one is {what}"
            )
        )
        raise ConnectorConfigError(problems)
    try:
        config = ConnectorConfig.model_validate(doc.data)
    except ValidationError as exc:
        problems += problems_from_validation(exc, doc, file, ConnectorConfig)
    if problems:
        raise ConnectorConfigError(problems)
    return config, deprecated_keys(doc, file, ConnectorConfig)


def load_connector(path: Path, base: Path | None = None) -> ConnectorConfig:
    """Read and check one connector file; problems name it relative to ``base``."""
    return _load(path, base)[0]


def _load(path: Path, base: Path | None) -> tuple[ConnectorConfig, list[Deprecation]]:
    file = display_path(path, base)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConnectorConfigError(
            [Problem(file, 1, "(file)", f"not UTF-8 text ({exc.reason}); save the file as UTF-8")]
        ) from None
    except OSError as exc:
        raise ConnectorConfigError(
            [Problem(file, 1, "(file)", f"cannot read: {exc.strerror}")]
        ) from None
    return _parse(text, file)


@dataclass
class LoadResult:
    """Every connector that loaded, and every problem of those that did not.

    ``deprecations`` are keys of loaded connectors written under a deprecated name: they work,
    and whoever loads the files shows them so people rename the keys.
    """

    connectors: dict[Path, ConnectorConfig] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    deprecations: dict[Path, list[Deprecation]] = field(default_factory=dict)

    @property
    def failed_files(self) -> list[str]:
        return sorted({p.file for p in self.problems})


def find_connector_files(paths: Iterable[Path]) -> list[Path]:
    """Connector files named directly, and every *.yaml / *.yml directly inside folders given.

    Files whose name starts with '.' or '_' are skipped in folders (drafts, shared snippets).
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.iterdir()
                if p.suffix in CONNECTOR_SUFFIXES and p.is_file() and p.name[0] not in "._"
            )
        else:
            found.append(path)
    return found


def load_connectors(files: Sequence[Path], base: Path | None = None) -> LoadResult:
    """Load many connector files; one bad file never stops the others.

    Connector ids must be unique across files: each one becomes a DAG id. Problems name files
    relative to ``base`` (default: the working directory).
    """
    result = LoadResult()
    seen: dict[str, Path] = {}
    for path in files:
        try:
            config, deprecations = _load(path, base)
        except ConnectorConfigError as exc:
            result.problems += exc.problems
            continue
        if config.id in seen:
            result.problems.append(
                Problem(
                    display_path(path, base),
                    _line_of_id(path),
                    "id",
                    f"connector id {config.id!r} is already used by "
                    f"{display_path(seen[config.id], base)}; "
                    "each connector needs its own id (it becomes the DAG id)",
                )
            )
            continue
        seen[config.id] = path
        result.connectors[path] = config
        if deprecations:
            result.deprecations[path] = deprecations
    return result


def _line_of_id(path: Path) -> int:
    return parse_yaml(path.read_text(encoding="utf-8")).line_of(("id",))
