"""The generic pieces of a self-contained HTML report: stylesheet, escaping, page shell,
sections, tables, number formatting and matplotlib figures as inline SVG.

Every function returns HTML text; every piece of data text passed in is escaped (except
:class:`Raw`, which marks text that is already HTML). Charts are drawn with matplotlib
without pyplot (no global backend state) and inlined as SVG whose ids are unique within one
page, so several charts (and several reports' charts) can share a document.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import polars as pl
from matplotlib import rc_context
from matplotlib.figure import Figure

P = ParamSpec("P")
R = TypeVar("R")

#: The matplotlib style of every report chart (use :func:`styled` / :func:`chart_style`).
MPL_STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",  # text stays text: small, searchable, escaped by the SVG writer
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 10.0,
    "legend.fontsize": 8.0,
    "legend.frameon": False,
}

#: The stylesheet every report page embeds. Useful classes: ``t`` (left-aligned cell),
#: ``note``, ``flag``/``fail``/``pass`` (amber/red/green text), ``cards``/``card`` (headline
#: numbers), ``pair`` (side by side), ``scroll`` (wide table), ``settings``; ``tr.dropped``.
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0;
 color:#222;line-height:1.45;font-size:14px}
header{background:#17324d;color:#fff;padding:1em 2em}
header h1{margin:0;font-size:1.5em}header p{margin:.3em 0 0;opacity:.85}
nav{position:sticky;top:0;background:#f4f6f8;border-bottom:1px solid #d8dde3;padding:.5em 2em;
 z-index:1;font-size:.92em}
nav a{margin-right:1.1em;color:#17324d;text-decoration:none;white-space:nowrap}
main{padding:0 2em 3em;max-width:1200px}
h2{border-bottom:2px solid #17324d;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.6em}h4{margin:1.2em 0 .4em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}
th,td{border:1px solid #d0d5db;padding:.25em .6em;text-align:right;vertical-align:top}
th{background:#eef1f4}td.t,th.t{text-align:left}
tr.dropped td{color:#888}
.flag{color:#a15c00;font-weight:600}.fail{color:#c0392b;font-weight:600}
.pass{color:#1e7d32;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{background:#f4f6f8;border:1px solid #d8dde3;border-radius:6px;padding:.6em 1em;min-width:8em}
.card b{display:block;font-size:1.35em}.card span{font-size:.85em;color:#555}
figure.chart{margin:.5em 0;display:inline-block;vertical-align:top}
figure.chart svg{max-width:100%;height:auto}
details{margin:.4em 0;border:1px solid #e1e5ea;border-radius:4px;padding:.3em .8em}
details>summary{cursor:pointer;font-weight:600}
.note{color:#555;font-size:.92em}code{background:#f1f3f5;padding:0 .25em;border-radius:3px}
pre{background:#f1f3f5;padding:.8em;overflow-x:auto}
.settings{font-size:.9em;color:#444}
.pair{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.scroll{overflow-x:auto;max-width:100%}
"""


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------


class Raw(str):
    """Already-escaped HTML (e.g. a table cell with markup); never escaped again.

    Examples
    --------
    >>> rows_table(("a",), [(Raw("<b>x</b>"),)]).count("<b>x</b>")
    1
    """

    __slots__ = ()


def escape(text: object) -> str:
    """``str(text)`` with ``& < > " '`` escaped for HTML text and attribute values.

    Examples
    --------
    >>> escape("<a href='x'>&</a>")
    '&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;'
    """
    return html.escape(str(text), quote=True)


def anchor(text: str) -> str:
    """A fragment id from any text (letters, digits, ``_`` and ``-``; lower case).

    Examples
    --------
    >>> anchor("Segment: App & Web")
    'segment-app-web'
    """
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower() or "x"


def short(text: str, n: int) -> str:
    """The text cut to at most ``n`` characters with an ellipsis (for chart labels)."""
    return text if len(text) <= n else text[: n - 1] + "…"


_PERCENT_COLUMNS = re.compile(r"(rate|share|pct|percent|capture|cum_bads|cum_goods)", re.I)


def fmt(value: object, column: str = "") -> str:
    """Format one table cell: percentages for rates and shares, thousands separators for counts.

    A float in a column whose name contains rate, share, pct, percent, capture, cum_bads or
    cum_goods (and within ±1) is shown as a percentage; ``None`` and NaN as ``–``.

    Examples
    --------
    >>> fmt(0.0512, "event_rate"), fmt(12345.0, "count"), fmt(0.123456, "woe"), fmt(None)
    ('5.12 %', '12,345', '0.1235', '–')
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if _PERCENT_COLUMNS.search(column) and abs(value) <= 1.0:
            return f"{100 * value:.2f} %"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1000:
            return f"{value:,.1f}"
        return f"{value:.4f}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def pct(value: float | None, digits: int = 2) -> str:
    """A share as a percentage (``0.1234`` → ``12.34 %``); None/NaN → ``–``."""
    if value is None or value != value:
        return "–"
    return f"{100 * value:.{digits}f} %"


def num(value: float | None, digits: int) -> str | None:
    """A number with a fixed number of decimals, or None for None/NaN (a ``–`` in tables)."""
    return None if value is None or value != value else f"{value:.{digits}f}"


def psi_verdict(value: float | None) -> Raw:
    """The usual reading of a PSI/CSI as coloured HTML: < 0.1 stable, < 0.25 watch, else shifted.

    Examples
    --------
    >>> psi_verdict(0.05), psi_verdict(0.3)
    ('<span class="pass">stable</span>', '<span class="fail">shifted</span>')
    """
    if value is None or value != value:
        return Raw("–")
    if value < 0.1:
        return Raw('<span class="pass">stable</span>')
    if value < 0.25:
        return Raw('<span class="flag">watch</span>')
    return Raw('<span class="fail">shifted</span>')


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def frame_table(frame: pl.DataFrame, *, columns: Sequence[str] | None = None,
                labels: Mapping[str, str] | None = None, row_class: Sequence[str] | None = None
                ) -> str:
    """An HTML table of a Polars frame; text columns left-aligned, numbers right-aligned.

    Parameters
    ----------
    frame
        The data.
    columns
        Which columns, in order (default all that exist).
    labels
        Header text per column.
    row_class
        A CSS class per row (e.g. ``dropped``).

    Returns
    -------
    str
    """
    cols = [c for c in (columns or frame.columns) if c in frame.columns]
    labels = labels or {}
    text_cols = {c for c in cols if frame.schema[c] in (pl.String, pl.Categorical, pl.Boolean)
                 or isinstance(frame.schema[c], pl.List)}
    head = "".join(f'<th class="{"t" if c in text_cols else ""}">{escape(labels.get(c, c))}</th>'
                   for c in cols)
    rows = []
    for i, row in enumerate(frame.select(cols).iter_rows()):
        cls = f' class="{escape(row_class[i])}"' if row_class and row_class[i] else ""
        cells = "".join(
            f'<td class="{"t" if c in text_cols else ""}">{escape(fmt(v, c))}</td>'
            for c, v in zip(cols, row, strict=True))
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def rows_table(header: Sequence[str], rows: Sequence[Sequence[object]],
               text_columns: int | Sequence[int] = 1) -> str:
    """An HTML table from rows of values; text columns (the first n, or those listed) left.

    Each value is formatted with :func:`fmt` (using its column's header) and escaped, except
    :class:`Raw` values, which are inserted as they are.
    """
    left = set(range(text_columns)) if isinstance(text_columns, int) else set(text_columns)
    head = "".join(f'<th class="{"t" if i in left else ""}">{escape(h)}</th>'
                   for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(
            f'<td class="{"t" if i in left else ""}">'
            f'{v if isinstance(v, Raw) else escape(fmt(v, header[i]))}</td>'
            for i, v in enumerate(r)) + "</tr>"
        for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cards(items: Sequence[tuple[str, str]]) -> str:
    """Headline numbers as a row of cards: ``(label, value)`` pairs ("" when empty)."""
    inner = "".join(f'<div class="card"><b>{escape(v)}</b><span>{escape(k)}</span></div>'
                    for k, v in items)
    return f"<div class=cards>{inner}</div>" if inner else ""


# --------------------------------------------------------------------------------------------
# Charts (inline SVG)
# --------------------------------------------------------------------------------------------

_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_SVG_ID = re.compile(r'\b(id)="([^"]+)"')
_SVG_REF = re.compile(r'(url\(|href=")#([^)"]+)')


@contextmanager
def chart_style() -> Iterator[None]:
    """A context in which new figures get the report style (:data:`MPL_STYLE`)."""
    with rc_context(MPL_STYLE):
        yield


def styled(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a function that draws a :class:`~matplotlib.figure.Figure` to run it under
    the report style."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with rc_context(MPL_STYLE):
            return fn(*args, **kwargs)

    wrapper.__name__ = getattr(fn, "__name__", "styled")
    wrapper.__doc__ = fn.__doc__
    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A report-styled figure (constrained layout) of that size in inches; no pyplot."""
    with rc_context(MPL_STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def svg_figure(fig: Figure, alt: str, *, number: int, prefix: str = "c") -> str:
    """A figure as ``<figure class="chart"><svg …></figure>`` for inlining in a page.

    Parameters
    ----------
    fig
        The matplotlib figure.
    alt
        Accessible description (``aria-label``), escaped.
    number, prefix
        Every id in the SVG becomes ``{prefix}{number}-{id}`` (and references follow), so
        charts with different (prefix, number) never clash in one page. Use
        :class:`SvgFigures` (or :meth:`Page.figure`) to number them for you.

    Returns
    -------
    str
        Reproducible output (no date, salted ids).
    """
    buf = io.StringIO()
    # The salt makes the generated clip-path ids reproducible.
    with rc_context({**MPL_STYLE, "svg.hashsalt": f"fk-chart-{number}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = _XML_PROLOGUE.sub("", buf.getvalue(), count=1)
    # Ids are per SVG document; inlined side by side they must be unique in the page.
    pre = f"{prefix}{number}-"
    text = _SVG_ID.sub(lambda m: f'{m.group(1)}="{pre}{m.group(2)}"', text)
    text = _SVG_REF.sub(lambda m: f"{m.group(1)}#{pre}{m.group(2)}", text)
    label = html.escape(alt, quote=True)
    text = text.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
    return f'<figure class="chart">{text}</figure>'


class SvgFigures:
    """Numbers the charts of one page: ``svg(fig, alt)`` inlines the next one.

    Parameters
    ----------
    prefix
        Id prefix of this page's charts; give each report a different one when several
        reports' charts share one document (e.g. ``"sim"``, ``"mon"``).
    """

    def __init__(self, prefix: str = "c") -> None:
        self.prefix = prefix
        self.count = 0

    def svg(self, fig: Figure, alt: str) -> str:
        """The next chart as inline SVG (see :func:`svg_figure`)."""
        self.count += 1
        return svg_figure(fig, alt, number=self.count, prefix=self.prefix)


# --------------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------------


def section(key: str, title: str, *parts: str) -> str:
    """``<section id=key><h2>title</h2>…parts…</section>`` (the title is escaped)."""
    return f'<section id="{escape(key)}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def page_html(title: str, subtitle: str, nav: Sequence[tuple[str, str]],
              body: Sequence[str]) -> str:
    """The page shell: head with :data:`CSS`, header (title, subtitle), sticky nav, main.

    Parameters
    ----------
    title, subtitle
        Plain text (escaped).
    nav
        ``(anchor, text)`` links to the sections.
    body
        HTML blocks (usually :func:`section` results), joined by new lines.
    """
    links = "".join(f'<a href="#{escape(key)}">{escape(text)}</a>' for key, text in nav)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
            f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>\n"
            f"<nav>{links}</nav>\n<main>\n" + "\n".join(body) + "\n</main></body></html>\n")


class Page:
    """A report page built section by section.

    Examples
    --------
    >>> page = Page("Monitoring", "tenant acme · 2026-01")
    >>> page.add("overview", "Overview", cards([("decisions", "1,234")]), "<p>…</p>")
    >>> html_text = page.to_html()   # one self-contained document
    >>> html_text.count("<section")
    1
    """

    def __init__(self, title: str, subtitle: str = "", *, figure_prefix: str = "c") -> None:
        self.title = title
        self.subtitle = subtitle
        self.figures = SvgFigures(figure_prefix)
        self.sections: list[tuple[str, str, str]] = []

    def figure(self, fig: Figure, alt: str) -> str:
        """Inline a chart with ids unique in this page (returns the HTML; add it to a section)."""
        return self.figures.svg(fig, alt)

    def add(self, key: str, title: str, *parts: str) -> None:
        """Append a section (``key`` is its anchor, ``title`` its heading and nav text)."""
        self.sections.append((key, title, "".join(parts)))

    def to_html(self) -> str:
        """The whole document."""
        return page_html(self.title, self.subtitle, [(k, t) for k, t, _ in self.sections],
                         [section(k, t, body) for k, t, body in self.sections])
