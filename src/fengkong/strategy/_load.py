"""Read strategy files (YAML or JSON) keeping the line and column of every value."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from fengkong.errors import Diagnostic, DiagnosticSink, StrategyFileError
from fengkong.expr import suggest
from fengkong.strategy._spec import UNION_TAGS, ScorecardSpec, StrategySpec

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Position:
    """Where a value starts: file, 1-based line and column, and the offset of its text."""

    file: str
    line: int
    column: int
    text_offset: int = 0  # 1 for a quoted scalar: the expression text starts after the quote
    block: bool = False   # a literal/folded block: the text starts on the next line


@dataclass
class SourceMap:
    """Positions of values in the files a strategy was read from, by spec path."""

    file: str
    positions: dict[Path_, Position] = field(default_factory=dict)

    def locate(self, path: Path_) -> Position | None:
        """The position of ``path`` or of its nearest ancestor."""
        for n in range(len(path), -1, -1):
            pos = self.positions.get(path[:n])
            if pos is not None:
                return pos
        return None

    def diagnostic(self, path: Path_, code: str, message: str, *, offset: int | None = None,
                   severity: str = "error") -> Diagnostic:
        """A :class:`Diagnostic` for ``path``; ``offset`` points into an expression's text."""
        pos = self.locate(path)
        line = col = None
        file = self.file
        if pos is not None:
            file, line, col = pos.file, pos.line, pos.column
            if offset is not None and path in self.positions:
                if pos.block:
                    line, col = line + 1, col + 2 + offset
                else:
                    col = col + pos.text_offset + offset
        return Diagnostic(code=code, message=message, path=format_path(path), file=file, line=line,
                          column=col, severity=severity)  # type: ignore[arg-type]


def format_path(path: Path_) -> str:
    """Render ``("rules", 3, "when")`` as ``rules[3].when``."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


@dataclass(frozen=True)
class LoadedStrategy:
    """A validated strategy spec with its digest and where each value came from."""

    spec: StrategySpec
    digest: str
    source: SourceMap
    base_dir: Path
    # Errors already found while loading (``recover=True``), and the names of the
    # entries dropped to get past them, so that later stages do not report their uses.
    diagnostics: tuple[Diagnostic, ...] = ()
    dropped: frozenset[str] = frozenset()


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def _plain(node: Any, path: Path_, file: str, index: dict[Path_, Position]) -> Any:
    """Convert ruamel's round-trip objects to plain Python, recording positions."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            line, col = node.lc.value(key) if key in node.lc.data else (None, None)
            kline, kcol = node.lc.key(key) if key in node.lc.data else (None, None)
            if kline is not None:
                index[(*path, str(key))] = _pos(file, value, line, col, kline, kcol)
            out[str(key) if not isinstance(key, str) else key] = _plain(
                value, (*path, str(key)), file, index)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            if i in node.lc.data:
                line, col = node.lc.item(i)
                index[(*path, i)] = _pos(file, value, line, col, line, col)
            items.append(_plain(value, (*path, i), file, index))
        return items
    if isinstance(node, bool | None | dt.date):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _pos(file: str, value: Any, line: int | None, col: int | None, kline: int | None,
         kcol: int | None) -> Position:
    if line is None or col is None:
        line, col = kline or 0, kcol or 0
    quoted = isinstance(value, SingleQuotedScalarString | DoubleQuotedScalarString)
    block = isinstance(value, LiteralScalarString | FoldedScalarString)
    if block:
        line, col = kline or line, kcol or col
    return Position(file, line + 1, col + 1, 1 if quoted else 0, block)


def read_document(path: Path, prefix: Path_, index: dict[Path_, Position],
                  sink: DiagnosticSink) -> Any:
    """Read one YAML or JSON file into plain Python, recording positions under ``prefix``."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        sink.add(Diagnostic("file-not-found", f"File `{file}` does not exist.", file=file))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        sink.add(Diagnostic("file-unreadable", f"File `{file}` cannot be read: {exc}.", file=file))
        return None
    try:
        doc = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        sink.add(Diagnostic("yaml-syntax", f"Invalid YAML: {problem}.", file=file,
                            line=mark.line + 1 if mark else None,
                            column=mark.column + 1 if mark else None))
        return None
    except YAMLError as exc:
        sink.add(Diagnostic("yaml-syntax", f"Invalid YAML: {exc}.", file=file))
        return None
    return _plain(doc, prefix, file, index)


def load_strategy(path: str | Path, *, recover: bool = False) -> LoadedStrategy:
    """Read and validate a strategy file and the artifact files it references.

    Parameters
    ----------
    path
        A ``.yaml``, ``.yml`` or ``.json`` strategy file.
    recover
        On schema errors, drop the entries that hold them and carry on, so that the
        compiler can report the file's other errors too; the errors found are in
        ``LoadedStrategy.diagnostics``. Without it, the first schema error raises.

    Returns
    -------
    LoadedStrategy
        The spec (with referenced scorecards inlined), its digest and a source map.

    Raises
    ------
    StrategyFileError
        With every problem found, each naming file, line and column.
    """
    path = Path(path)
    sink = DiagnosticSink(file=str(path))
    source = SourceMap(str(path))
    doc = read_document(path, (), source.positions, sink)
    sink.raise_for_errors()
    if not isinstance(doc, dict):
        sink.add(Diagnostic("spec-not-mapping", "A strategy file must be a mapping of keys to values.",
                            file=str(path), line=1, column=1))
        sink.raise_for_errors()
    _inline_scorecards(doc, path.parent, source, sink)
    sink.raise_for_errors()
    spec = validate_model(StrategySpec, doc, source, sink)
    dropped: set[str] = set()
    if spec is None and recover:
        spec = _recover(doc, source, sink, dropped)
    if spec is None:
        sink.raise_for_errors()
    assert spec is not None
    return LoadedStrategy(spec=spec, digest=spec_digest(spec), source=source, base_dir=path.parent,
                          diagnostics=tuple(sink.items), dropped=frozenset(dropped))


_PLACEHOLDERS: dict[str, Any] = {"strategy": "invalid", "version": 0, "stage": "origination",
                                 "schema_version": 1}


def _recover(doc: dict[str, Any], source: SourceMap, sink: DiagnosticSink,
             dropped: set[str]) -> StrategySpec | None:
    """Drop what holds schema errors (a rule, a table, a feature...) and validate again."""
    for _ in range(5):
        try:
            return StrategySpec.model_validate(doc)
        except ValidationError as exc:
            removals: list[tuple[str, Any]] = []
            for err in exc.errors(include_url=False, include_input=False):
                loc = tuple(p for p in err["loc"] if p not in UNION_TAGS)
                if not loc:
                    return None
                top = str(loc[0])
                if len(loc) == 1:
                    if top in _PLACEHOLDERS:
                        doc[top] = _PLACEHOLDERS[top]
                    elif top in doc and top not in ("inputs",):
                        del doc[top]
                    else:
                        return None
                    continue
                removals.append((top, loc[1]))
            for top, key in sorted(set(removals), key=lambda r: str(r[1]), reverse=True):
                container = doc.get(top)
                if isinstance(container, dict) and key in container:
                    name = key if top != "outcome" else ""
                    del container[key]
                elif isinstance(container, list) and isinstance(key, int) and key < len(container):
                    item = container.pop(key)
                    name = item.get("id") or item.get("name") or "" if isinstance(item, dict) else ""
                else:
                    return None
                if name:
                    dropped.add(str(name))
    return None


def _inline_scorecards(doc: dict[str, Any], base: Path, source: SourceMap,
                       sink: DiagnosticSink) -> None:
    cards = doc.get("scorecards")
    if not isinstance(cards, dict):
        return
    for name, value in cards.items():
        if not (isinstance(value, dict) and set(value) == {"file"} and isinstance(value["file"], str)):
            continue
        prefix: Path_ = ("scorecards", name)
        artifact = read_document(base / value["file"], prefix, source.positions, sink)
        if artifact is None:
            pos = source.locate((*prefix, "file"))
            if pos is not None and sink.items:
                last = sink.items.pop()
                sink.add(Diagnostic(last.code, last.message, format_path((*prefix, "file")),
                                    pos.file, pos.line, pos.column))
            continue
        cards[name] = artifact


M = TypeVar("M", bound=BaseModel)


def validate_model(model: type[M], doc: Any, source: SourceMap,
                                 sink: DiagnosticSink) -> M | None:
    """Validate ``doc`` against ``model``, turning every error into a located diagnostic."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            loc = tuple(p for p in err["loc"] if p not in UNION_TAGS)
            sink.add(_diagnostic_for(model, loc, err["type"], err["msg"], source))
        return None


def _diagnostic_for(model: type[BaseModel], loc: Path_, kind: str, msg: str,
                    source: SourceMap) -> Diagnostic:
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        key = str(loc[-1])
        hint = suggest(key, allowed) if allowed else ""
        listing = f" Allowed keys: {', '.join(allowed)}." if allowed and not hint else ""
        return source.diagnostic(loc, "unknown-key", f"Unknown key `{key}`.{hint}{listing}")
    if kind == "missing":
        return source.diagnostic(loc, "missing-key", f"Required key `{loc[-1]}` is missing.")
    if kind == "literal_error":
        return source.diagnostic(loc, "invalid-value", f"{msg}.")
    if kind == "string_pattern_mismatch":
        want = "UPPER_SNAKE_CASE" if str(loc[-1]) in ("reason", "decline_reason") else "lower_snake_case"
        return source.diagnostic(loc, "invalid-name", f"`{loc[-1]}` must be {want}: {msg}.")
    return source.diagnostic(loc, "invalid-value", f"{msg}.")


def _fields_at(model: type[BaseModel], loc: Path_) -> list[str]:
    """Field names of the model found at ``loc`` inside ``model`` (for suggestions)."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            f = current.model_fields.get(str(part))
            if f is None:
                return []
            current = f.annotation
        current = _unwrap(current, part)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any, part: str | int) -> Any:
    """Step through list/dict/Optional/Annotated wrappers towards a model class."""
    from typing import get_args, get_origin

    for _ in range(6):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        args = [a for a in get_args(annotation) if a is not type(None)]
        origin = get_origin(annotation)
        if origin in (list, dict) and args:
            return args[-1]
        if not args:
            return annotation
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        annotation = models[0] if models else args[0]
    return annotation


def spec_digest(spec: StrategySpec) -> str:
    """SHA-256 of the canonical JSON of a spec: the identity that decisions record."""
    data = orjson.dumps(spec.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(data).hexdigest()


def load_scorecard(path: str | Path) -> ScorecardSpec:
    """Read and validate a scorecard artifact file on its own."""
    path = Path(path)
    sink = DiagnosticSink(file=str(path))
    source = SourceMap(str(path))
    doc = read_document(path, (), source.positions, sink)
    sink.raise_for_errors()
    card = validate_model(ScorecardSpec, doc, source, sink)
    if card is None:
        raise StrategyFileError(sink.items)
    return card
