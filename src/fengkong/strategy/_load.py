"""Read strategy files (YAML or JSON) keeping the line and column of every value.

YAML is composed into a node tree by libyaml (PyYAML's C loader), which keeps the
mark of every node and is about two orders of magnitude faster than a pure-Python
round-trip loader; values are then built from the nodes, positions recorded by path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import orjson
import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import SafeConstructor

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
    key_line: int | None = None  # where the mapping key is, for errors about the key itself
    key_column: int | None = None


@dataclass
class SourceMap:
    """Positions of values in the files a strategy was read from, by spec path."""

    file: str
    positions: dict[Path_, Position] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)  # file -> lines
    # For lists that lost an item: current index -> index in the file.
    renumbered: dict[Path_, list[int]] = field(default_factory=dict)

    def locate(self, path: Path_) -> Position | None:
        """The position of ``path`` or of its nearest ancestor."""
        for n in range(len(path), -1, -1):
            pos = self.positions.get(path[:n])
            if pos is not None:
                return pos
        return None

    def diagnostic(self, path: Path_, code: str, message: str, *, offset: int | None = None,
                   severity: str = "error", at_key: bool = False) -> Diagnostic:
        """A :class:`Diagnostic` for ``path``; ``offset`` points into an expression's text."""
        pos = self.locate(path)
        line = col = None
        file = self.file
        if pos is not None:
            file, line, col = pos.file, pos.line, pos.column
            if at_key and path in self.positions and pos.key_line is not None:
                line, col = pos.key_line, pos.key_column
            elif offset is not None and path in self.positions:
                line, col = self._within(pos, offset)
        return Diagnostic(code=code, message=message, path=format_path(self.shown(path)), file=file, line=line,
                          column=col, severity=severity)  # type: ignore[arg-type]

    def _within(self, pos: Position, offset: int) -> tuple[int, int]:
        """Line and column of character ``offset`` of a scalar's text, across line breaks.

        YAML joins a multi-line scalar's lines with one character (a space when folded,
        a newline in a literal block), so the text is walked line by line in the file.
        """
        lines = self.texts.get(pos.file)
        if not lines or pos.line > len(lines):
            return pos.line, pos.column + pos.text_offset + offset
        segments: list[tuple[int, int, str]] = []
        following = lines[pos.line:pos.line + 200]
        if pos.block:
            # A block scalar keeps indentation beyond the block's own (its first line's).
            firsts = [ln for ln in following if ln.strip()]
            indent = len(firsts[0]) - len(firsts[0].lstrip()) if firsts else 0
            segments = [(pos.line + 1 + k, indent + 1, ln[indent:]) for k, ln in enumerate(following)]
        else:
            start = pos.column - 1
            raw = lines[pos.line - 1][start:]
            if pos.text_offset:  # quoted: walk escapes so columns stay on the raw text
                col = _quoted_column(raw, offset)
                if col is not None:
                    return pos.line, pos.column + col
            segments = [(pos.line, start + 1 + pos.text_offset, raw[pos.text_offset:])]
            segments += [(pos.line + 1 + k, len(ln) - len(ln.lstrip()) + 1, ln.lstrip())
                         for k, ln in enumerate(following)]
        done = 0
        for line_no, col, text in segments:
            if offset < done + len(text) + 1:
                return line_no, col + offset - done
            done += len(text) + 1
        return pos.line, pos.column + pos.text_offset + offset

    def drop_item(self, container: Path_, index: int) -> None:
        """Renumber positions after item ``index`` of the list at ``container`` was removed."""
        depth = len(container)
        keys = [k for k in self.positions
                if k[:depth] == container and len(k) > depth and isinstance(k[depth], int)]
        count = max((int(k[depth]) for k in keys), default=-1) + 1
        mapping = self.renumbered.setdefault(container, list(range(count)))
        if index < len(mapping):
            del mapping[index]
        moved: dict[Path_, Position] = {}
        for key in keys:
            pos = self.positions.pop(key)
            i = int(key[depth])
            if i != index:
                moved[(*container, i - 1 if i > index else i, *key[depth + 1:])] = pos
        self.positions.update(moved)

    def shown(self, path: Path_) -> Path_:
        """``path`` with list indices as they are in the file (before any item was dropped)."""
        for container, mapping in self.renumbered.items():
            depth = len(container)
            if path[:depth] == container and len(path) > depth and isinstance(path[depth], int):
                i = int(path[depth])
                if i < len(mapping):
                    return (*container, mapping[i], *path[depth + 1:])
        return path


def _quoted_column(raw: str, offset: int) -> int | None:
    """Raw column (0-based, from the opening quote) of value character ``offset``.

    ``"..."`` escapes (``\\"``, ``\\n``, ``\\xNN``, ``\\uNNNN``, ``\\UNNNNNNNN``) and
    ``'...'`` doubled quotes take more raw characters than they give; None when the
    scalar does not end on this line.
    """
    quote = raw[:1]
    i, seen = 1, 0
    widths = {"x": 4, "u": 6, "U": 10}
    while i < len(raw):
        if seen == offset:
            return i
        ch = raw[i]
        if ch == quote:
            if quote == "'" and raw[i + 1:i + 2] == "'":
                i, seen = i + 2, seen + 1
                continue
            return None
        if quote == '"' and ch == "\\":
            i += widths.get(raw[i + 1:i + 2], 2)
        else:
            i += 1
        seen += 1
    return None


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


class _DuplicateKeyError(Exception):
    def __init__(self, key: str, node: yaml.Node, first: yaml.Node) -> None:
        self.key, self.node, self.first = key, node, first


def _compose(text: str) -> yaml.Node | None:
    """The YAML node tree, with line and column marks (libyaml when available)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.compose(text, Loader=loader)


def _plain(node: yaml.Node, path: Path_, file: str, index: dict[Path_, Position],
           build: SafeConstructor) -> Any:
    """Convert a composed node tree to plain Python, recording positions."""
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        firsts: dict[str, yaml.Node] = {}
        for knode, vnode in node.value:
            key = str(build.construct_object(knode)) if isinstance(knode, yaml.ScalarNode) else str(knode.value)
            if key in out:
                raise _DuplicateKeyError(key, knode, firsts[key])
            firsts[key] = knode
            index[(*path, key)] = _pos(file, vnode, knode)
            out[key] = _plain(vnode, (*path, key), file, index, build)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            index[(*path, i)] = _pos(file, item, item)
            items.append(_plain(item, (*path, i), file, index, build))
        return items
    return build.construct_object(node)


def _pos(file: str, value: yaml.Node, key: yaml.Node) -> Position:
    style = getattr(value, "style", None)
    mark, kmark = value.start_mark, key.start_mark
    return Position(file, mark.line + 1, mark.column + 1, 1 if style in ('"', "'") else 0,
                    style in ("|", ">"), kmark.line + 1, kmark.column + 1)


def read_document(path: Path, prefix: Path_, source: SourceMap, sink: DiagnosticSink) -> Any:
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
    source.texts[file] = text.splitlines()
    try:
        root = _compose(text)
        if root is None:
            return None
        return _plain(root, prefix, file, source.positions, SafeConstructor())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        sink.add(Diagnostic("yaml-syntax", f"Invalid YAML: {problem}.", file=file,
                            line=mark.line + 1 if mark else None,
                            column=mark.column + 1 if mark else None))
    except _DuplicateKeyError as exc:
        first = exc.first.start_mark.line + 1
        sink.add(Diagnostic("yaml-syntax", f"Invalid YAML: duplicate key `{exc.key}` (first at line {first}).",
                            file=file, line=exc.node.start_mark.line + 1,
                            column=exc.node.start_mark.column + 1))
    except yaml.YAMLError as exc:
        sink.add(Diagnostic("yaml-syntax", f"Invalid YAML: {exc}.", file=file))
    return None


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
    doc = read_document(path, (), source, sink)
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


def _at(doc: Any, loc: Path_) -> Any:
    """The value at ``loc`` inside plain data, or None."""
    for part in loc:
        if isinstance(doc, list):
            if not (isinstance(part, int) and part < len(doc)):
                return None
            doc = doc[part]
        elif isinstance(doc, dict) and part in doc:
            doc = doc[part]
        else:
            return None
    return doc


_PLACEHOLDERS: dict[str, Any] = {"strategy": "invalid", "version": 0, "stage": "origination",
                                 "schema_version": 1}


def _recover(doc: dict[str, Any], source: SourceMap, sink: DiagnosticSink,
             dropped: set[str]) -> StrategySpec | None:
    """Drop what holds schema errors (a rule, a table, a feature...) and validate again."""
    for attempt in range(5):
        try:
            return StrategySpec.model_validate(doc)
        except ValidationError as exc:
            removals: list[tuple[str, Any]] = []
            for err in exc.errors(include_url=False, include_input=False):
                loc = tuple(p for p in err["loc"] if p not in UNION_TAGS)
                if attempt:  # the first round was reported by validate_model
                    sink.add(_diagnostic_for(StrategySpec, loc, err["type"], err["msg"], source))
                if not loc:
                    return None
                top = str(loc[0])
                if err["type"] == "extra_forbidden":  # a misspelt key: drop just that key
                    parent = _at(doc, loc[:-1])
                    if isinstance(parent, dict) and loc[-1] in parent:
                        del parent[loc[-1]]
                        continue
                if len(loc) == 1:
                    if top in _PLACEHOLDERS:
                        doc[top] = _PLACEHOLDERS[top]
                    elif top in doc and top not in ("inputs",):
                        del doc[top]
                    else:
                        return None
                    continue
                removals.append((top, loc[1]))
            # Highest list index first, so that earlier indices stay valid.
            for top, key in sorted(set(removals), key=lambda r: (r[0], r[1] if isinstance(r[1], int) else -1),
                                   reverse=True):
                container = doc.get(top)
                if isinstance(container, dict) and key in container:
                    name = key if top != "outcome" else ""
                    del container[key]
                elif isinstance(container, list) and isinstance(key, int) and key < len(container):
                    item = container.pop(key)
                    source.drop_item((top,), key)
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
        artifact = read_document(base / value["file"], prefix, source, sink)
        if artifact is None:
            pos = source.locate((*prefix, "file"))
            # A missing or unreadable file is reported where the strategy names it; an
            # error inside the file keeps the file's own position.
            if pos is not None and sink.items and sink.items[-1].code in ("file-not-found", "file-unreadable"):
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
        return source.diagnostic(loc, "unknown-key", f"Unknown key `{key}`.{hint}{listing}", at_key=True)
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
        current = _strip(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            f = current.model_fields.get(str(part))
            if f is None:
                return []
            current = f.annotation
        elif get_origin(current) in (list, dict):  # `part` is an index or a key
            current = get_args(current)[-1]
        else:
            return []
    current = _strip(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _strip(annotation: Any) -> Any:
    """Look through Annotated and Optional/unions to a model, a list or a dict."""
    for _ in range(8):
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, UnionType):
            args = [_strip(a) for a in get_args(annotation) if a is not type(None)]
            pick = [a for a in args if (isinstance(a, type) and issubclass(a, BaseModel))
                    or get_origin(a) in (list, dict)]
            annotation = pick[0] if pick else (args[0] if args else annotation)
            continue
        return annotation
    return annotation


def spec_digest(spec: StrategySpec) -> str:
    """SHA-256 of the canonical JSON of a spec: the identity that decisions record."""
    doc = spec.model_dump(mode="json")
    # Keys added after the first release leave the digest of a strategy that does not
    # use them unchanged, so recorded decisions keep matching their strategy.
    if doc["market"] == "cn":
        del doc["market"]
    if not doc.get("reasons"):
        doc.pop("reasons", None)
    if not doc.get("velocity"):
        doc.pop("velocity", None)
    if not doc.get("sources"):
        doc.pop("sources", None)
        if doc.get("source_deadline_ms") == 2000:
            del doc["source_deadline_ms"]
    for declared in doc["inputs"].values():
        for key, default in (("category", None), ("allow_name", False), ("reason", None)):
            if declared[key] == default:
                del declared[key]
    data = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(data).hexdigest()


def load_scorecard(path: str | Path) -> ScorecardSpec:
    """Read and validate a scorecard artifact file on its own."""
    path = Path(path)
    sink = DiagnosticSink(file=str(path))
    source = SourceMap(str(path))
    doc = read_document(path, (), source, sink)
    sink.raise_for_errors()
    card = validate_model(ScorecardSpec, doc, source, sink)
    if card is None:
        raise StrategyFileError(sink.items)
    return card
