"""fengkong.reports: escaping, tables, the page shell and inline-SVG charts with page-unique ids."""

from __future__ import annotations

import re

import polars as pl
import pytest

from fengkong.reports import (
    CSS,
    Page,
    Raw,
    SvgFigures,
    anchor,
    cards,
    escape,
    fmt,
    frame_table,
    new_figure,
    page_html,
    pct,
    psi_verdict,
    rows_table,
    section,
    styled,
    svg_figure,
)

EVIL = "<script>alert('x')</script>&\""


def _figure() -> object:
    fig = new_figure(3.0, 2.0)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [1, 0, 2])
    ax.set_title(EVIL)
    return fig


def test_escape_and_raw() -> None:
    assert escape(EVIL) == "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;"
    assert escape(3) == "3"
    table = rows_table(("name", "value"), [(EVIL, Raw("<b>bold</b>"))])
    assert "<script>" not in table
    assert "<b>bold</b>" in table


@pytest.mark.parametrize(("value", "column", "text"), [
    (0.0512, "bad_rate", "5.12 %"), (0.0512, "woe", "0.0512"), (12345, "n", "12,345"),
    (12345.0, "count", "12,345"), (1234.56, "x", "1,234.6"), (None, "x", "–"),
    (float("nan"), "x", "–"), (float("inf"), "x", "∞"), (True, "x", "yes"),
    (["a", "b"], "x", "a, b"), (1.5, "share", "1.5000"),
])
def test_fmt(value: object, column: str, text: str) -> None:
    assert fmt(value, column) == text


def test_pct_and_verdict() -> None:
    assert pct(0.1234) == "12.34 %"
    assert pct(None) == "–"
    assert pct(float("nan")) == "–"
    assert pct(0.5, 0) == "50 %"
    assert "stable" in psi_verdict(0.05)
    assert "watch" in psi_verdict(0.1)
    assert "shifted" in psi_verdict(0.25)
    assert psi_verdict(None) == "–"
    assert isinstance(psi_verdict(0.3), Raw)


def test_anchor() -> None:
    assert anchor("Segment: App & Web") == "segment-app-web"
    assert anchor("!!!") == "x"


def test_frame_table_aligns_and_formats() -> None:
    frame = pl.DataFrame({"segment": ["a", EVIL], "n": [1000, 2], "approval_rate": [0.5, 0.25],
                          "other": [1, 2]})
    html = frame_table(frame, columns=["segment", "n", "approval_rate", "missing"],
                       labels={"n": "decisions"}, row_class=["", "fail"])
    assert html.count("<tr") == 3
    assert '<th class="t">segment</th>' in html
    assert "<th class=\"\">decisions</th>" in html
    assert "50.00 %" in html and "1,000" in html
    assert "other" not in html and "missing" not in html
    assert '<tr class="fail">' in html
    assert "<script>" not in html


def test_rows_table_text_columns() -> None:
    html = rows_table(("a", "b", "c"), [("x", 1, "y")], text_columns=(0, 2))
    assert re.findall(r'<td class="(t?)">', html) == ["t", "", "t"]


def test_cards_and_section() -> None:
    assert cards([]) == ""
    html = cards([("approval <rate>", "50 %")])
    assert "approval &lt;rate&gt;" in html and 'class="card"' in html
    assert section("k", "T<", "<p>x</p>") == '<section id="k"><h2>T&lt;</h2><p>x</p></section>'


def test_svg_ids_are_unique_in_a_page_and_reproducible() -> None:
    charts = SvgFigures("mon")
    a, b = charts.svg(_figure(), "first"), charts.svg(_figure(), "second")  # type: ignore[arg-type]
    assert charts.count == 2
    ids = re.findall(r'\bid="([^"]+)"', a + b)
    assert ids and len(ids) == len(set(ids))
    assert all(i.startswith(("mon1-", "mon2-")) for i in ids)
    refs = re.findall(r'(?:url\(|href=")#([^)"]+)', a + b)
    assert set(refs) <= set(ids)
    assert a.startswith('<figure class="chart"><svg role="img" aria-label="first"')
    assert "<?xml" not in a
    assert "<script>" not in a  # chart text is escaped by the SVG writer
    again = svg_figure(_figure(), "first", number=1, prefix="mon")  # type: ignore[arg-type]
    assert again == a


def test_styled_applies_the_report_style() -> None:
    @styled
    def draw() -> float:
        fig = new_figure(2.0, 2.0)
        ax = fig.add_subplot()
        return float(ax.title.get_fontsize())

    assert draw() == 10.0


def test_page_is_self_contained_with_nav_and_sections() -> None:
    page = Page(f"Title {EVIL}", "sub <b>", figure_prefix="t")
    fig = page.figure(_figure(), "a chart")  # type: ignore[arg-type]
    page.add("one", "One", "<p>first</p>", fig)
    page.add("two", "Two & more")
    html = page.to_html()
    assert html.startswith("<!DOCTYPE html>")
    assert CSS in html
    assert '<a href="#one">One</a><a href="#two">Two &amp; more</a>' in html
    assert html.count("<section") == 2
    assert "<script>" not in html and "sub &lt;b&gt;" in html
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)  # no external assets
    assert html == page_html(page.title, page.subtitle, [("one", "One"), ("two", "Two & more")],
                             [section("one", "One", "<p>first</p>", fig), section("two",
                                                                                 "Two & more")])
