"""Self-contained HTML reports: page shell, tables and inline-SVG charts shared by every report.

One HTML file, no external assets, every piece of text escaped, charts drawn with matplotlib
(no pyplot) and inlined as SVG with ids unique in the page::

    from fengkong.reports import Page, cards, frame_table, new_figure

    page = Page("Monitoring", "tenant acme · strategy origination")
    fig = new_figure(6.0, 3.0)
    fig.add_subplot().plot([1, 2, 3])
    page.add("overview", "Overview", cards([("decisions", "1,234")]),
             page.figure(fig, "decisions per week"), frame_table(table))
    Path("report.html").write_text(page.to_html(), encoding="utf-8")

Only NumPy, Polars and matplotlib are used (this package sits just above the engine).
"""

from fengkong.reports._html import (
    CSS,
    MPL_STYLE,
    Page,
    Raw,
    SvgFigures,
    anchor,
    cards,
    chart_style,
    escape,
    fmt,
    frame_table,
    new_figure,
    num,
    page_html,
    pct,
    psi_verdict,
    rows_table,
    section,
    short,
    styled,
    svg_figure,
)

__all__ = [
    "CSS",
    "MPL_STYLE",
    "Page",
    "Raw",
    "SvgFigures",
    "anchor",
    "cards",
    "chart_style",
    "escape",
    "fmt",
    "frame_table",
    "new_figure",
    "num",
    "page_html",
    "pct",
    "psi_verdict",
    "rows_table",
    "section",
    "short",
    "styled",
    "svg_figure",
]
