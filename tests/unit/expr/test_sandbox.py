"""The expression sandbox: everything it must refuse, with the code and the span of the problem."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fengkong import compile_strategy
from fengkong.errors import StrategyFileError
from fengkong.expr import ExprError, Info, check_expression

ENV = {
    "x": Info("float", True),
    "s": Info("str", True),
    "flag": Info("bool", True),
    "applicant.age": Info("int", False, 16, 100),
    "channel": Info("str", False, values=("app", "partner")),
}


def refuse(source: str) -> ExprError:
    with pytest.raises(ExprError) as info:
        check_expression(source, ENV)
    return info.value


# (source, code, the exact text the problem's span covers)
REFUSED: list[tuple[str, str, str]] = [
    # names starting with an underscore, dunders, attributes of things that are not fields
    ("_x", "expr-forbidden", "_x"),
    ("__builtins__", "expr-forbidden", "__builtins__"),
    ("x.__class__", "expr-forbidden", "x.__class__"),
    ("x.__class__.__mro__", "expr-forbidden", "x.__class__.__mro__"),
    ("applicant._age", "expr-forbidden", "applicant._age"),
    ("applicant.__dict__", "expr-forbidden", "applicant.__dict__"),
    ("(1).real", "expr-forbidden", "(1).real"),
    ("().__class__", "expr-forbidden", "().__class__"),
    ("x.real", "unknown-field", "x.real"),
    ("applicant.age.foo", "unknown-field", "applicant.age.foo"),
    # calls outside the whitelist
    ("__import__('os')", "unknown-function", "__import__"),
    ("__import__('os').system('true')", "unknown-function", "__import__('os').system"),
    ("eval('1')", "unknown-function", "eval"),
    ("exec('1')", "unknown-function", "exec"),
    ("open('/etc/passwd')", "unknown-function", "open"),
    ("getattr(x, 'real')", "unknown-function", "getattr"),
    ("globals()", "unknown-function", "globals"),
    ("type(x)", "unknown-function", "type"),
    ("print(1)", "unknown-function", "print"),
    ("s.upper()", "unknown-function", "s.upper"),
    ("'a'.upper()", "unknown-function", "'a'.upper"),
    ("min(x, 1)(2)", "unknown-function", "min(x, 1)"),
    ("(lambda: 1)()", "unknown-function", "lambda: 1"),
    # syntax the language does not have
    ("lambda: 1", "expr-forbidden", "lambda: 1"),
    ("[i for i in (1, 2)]", "expr-forbidden", "[i for i in (1, 2)]"),
    ("{i for i in (1, 2)}", "expr-forbidden", "{i for i in (1, 2)}"),
    ("{i: i for i in (1, 2)}", "expr-forbidden", "{i: i for i in (1, 2)}"),
    ("min(i for i in (1, 2))", "expr-forbidden", "(i for i in (1, 2))"),
    ("(y := 1)", "expr-forbidden", "y := 1"),
    ("x > 1 and (y := 2)", "expr-forbidden", "y := 2"),
    ("s[0]", "expr-forbidden", "s[0]"),
    ("s[0:2]", "expr-forbidden", "s[0:2]"),
    ("f'{x}'", "expr-forbidden", "f'{x}'"),
    ("x ** 2", "expr-forbidden", "x ** 2"),
    ("x // 2", "expr-forbidden", "x // 2"),
    ("x % 2", "expr-forbidden", "x % 2"),
    ("1 & 2", "expr-forbidden", "1 & 2"),
    ("1 | 2", "expr-forbidden", "1 | 2"),
    ("1 ^ 2", "expr-forbidden", "1 ^ 2"),
    ("1 << 2", "expr-forbidden", "1 << 2"),
    ("1 >> 2", "expr-forbidden", "1 >> 2"),
    ("~1", "expr-forbidden", "~1"),
    ("min(x, 1, key=1)", "expr-forbidden", "min(x, 1, key=1)"),
    ("min(**x)", "expr-forbidden", "min(**x)"),
    ("min(*x)", "expr-forbidden", "*x"),
    ("x is None", "expr-forbidden", "x is None"),
    ("x is not None", "expr-forbidden", "x is not None"),
    ("await x", "expr-forbidden", "await x"),
    ("{'a': 1}", "expr-forbidden", "{'a': 1}"),
    ("[1, 2]", "expr-forbidden", "[1, 2]"),
    ("(1, 2)", "expr-forbidden", "(1, 2)"),
    ("b'a'", "expr-forbidden", "b'a'"),
    ("1j", "expr-forbidden", "1j"),
    ("...", "expr-forbidden", "..."),
    ("x in s", "expr-forbidden", "s"),
    ("x in (null, 1)", "expr-forbidden", "null"),
    ("x in (x, 1)", "expr-forbidden", "x"),
    # statements are not expressions
    ("x = 1", "expr-syntax", "="),
    ("x; x", "expr-syntax", ";"),
    ("import os", "expr-syntax", "i"),
    # literals
    ("99999999999999999999", "expr-literal-range", "99999999999999999999"),
    ("9007199254740993", "expr-literal-range", "9007199254740993"),
    ("-9007199254740993", "expr-literal-range", "9007199254740993"),
    ("1e999", "expr-literal-range", "1e999"),
    # nesting deeper than 24 levels
    ("(" * 25 + "x" + ")" * 25, "expr-too-deep", "("),
    ("-" * 30 + "x", "expr-too-deep", "-----x"),
]


@pytest.mark.parametrize(("source", "code", "span"), REFUSED, ids=[c[0][:40] for c in REFUSED])
def test_refused_with_code_and_span(source: str, code: str, span: str) -> None:
    problem = refuse(source).problem
    assert problem.code == code, problem
    assert source[problem.start:problem.end] == span, problem
    assert problem.message.endswith((".", "?")), problem.message


def test_limits_below_the_line_are_accepted() -> None:
    check_expression("(" * 24 + "x" + ")" * 24 + " > 1", ENV)
    check_expression("9007199254740992 + 0 > x", ENV)
    check_expression("-" * 20 + "x > 0", ENV)


@pytest.mark.parametrize("op", ["&", "|", "^", "<<", ">>"])
def test_bitwise_message_names_the_operator(op: str) -> None:
    message = refuse(f"1 {op} 2").problem.message
    assert f"`{op}`" in message, message


@pytest.mark.parametrize("source", [
    "(" * 200 + "x" + ")" * 200,
    "(" * 1000 + "x" + ")" * 1000,
    "abs(" * 150 + "x" + ")" * 150,
    "-" * 3990 + "1",
    "not " * 900 + "true",
    "x + " * 900 + "x",
    "x" + ".a" * 1500,
    "s == '" + ")" * 300 + "' or " + "(" * 220 + "x > 1" + ")" * 220,
], ids=["200-parens", "1000-parens", "150-calls", "3990-signs", "900-nots", "900-adds",
        "1500-attributes", "unbalanced-string"])
def test_pathological_nesting_raises_expr_error(source: str) -> None:
    # Never a RecursionError, MemoryError or SyntaxError: always an ExprError with a cost code.
    problem = refuse(source).problem
    assert problem.code in {"expr-too-deep", "expr-too-large", "expr-too-long", "expr-syntax"}


def test_two_hundred_nested_parens_are_too_deep() -> None:
    problem = refuse("(" * 200 + "x" + ")" * 200).problem
    assert problem.code == "expr-too-deep"
    assert (problem.start, problem.end) == (24, 25)  # the 25th parenthesis


def test_too_many_nodes() -> None:
    assert refuse(" + ".join(["x"] * 150)).problem.code == "expr-too-large"
    problem = refuse(" and ".join(["x > 1"] * 100)).problem  # flat: 500 nodes, depth 3
    assert problem.code == "expr-too-large"
    assert "400" in problem.message


def test_very_long_source() -> None:
    problem = refuse("x > 1" + " " * 3996).problem
    assert problem.code == "expr-too-long"
    assert refuse("x" * 4001).problem.code == "expr-too-long"
    check_expression("x > 1" + " " * 3995, ENV)  # exactly 4,000 characters


def test_empty_source() -> None:
    assert refuse("").problem.code == "expr-empty"
    assert refuse("  \n ").problem.code == "expr-empty"


def test_brackets_inside_string_literals_do_not_count_as_nesting() -> None:
    node = check_expression("contains(s, '" + "(" * 30 + "')", ENV)
    assert node.info.type == "bool"


def test_in_list_limit_is_on_values_not_nodes() -> None:
    # The documented limit of an `in` list is 1,000 values; 500 literals must be accepted.
    values = ", ".join(str(i % 10) for i in range(500))
    check_expression(f"applicant.age in ({values})", ENV)
    too_many = ", ".join("1" for _ in range(1001))
    assert refuse(f"applicant.age in ({too_many})").problem.code == "expr-too-large"


def test_wrong_arity_and_suggestions() -> None:
    problem = refuse("sqrt(x, 1)").problem
    assert (problem.code, problem.start, problem.end) == ("wrong-arity", 0, 10)
    assert refuse("sqrt()").problem.code == "wrong-arity"
    assert refuse("min(" + ", ".join(["x"] * 17) + ")").problem.code == "wrong-arity"
    problem = refuse("mni(x, 1)").problem
    assert problem.code == "unknown-function"
    assert "Did you mean `min`?" in problem.message
    problem = refuse("applicant.agee > 1").problem
    assert (problem.code, problem.start, problem.end) == ("unknown-field", 0, 14)
    assert "Did you mean `applicant.age`?" in problem.message
    problem = refuse("channel == 'ap'").problem
    assert problem.code == "enum-value-unknown"
    assert "Did you mean `app`?" in problem.message


# -- spans are character offsets into the source as written -------------------------------

@pytest.mark.parametrize(("source", "span"), [
    ("  x.__class__", "x.__class__"),
    ("  '中文' + x ** 2", "x ** 2"),
    ("'中文' == s and __import__('os')", "__import__"),
    ("'é' + s + __x", "__x"),
    ("s == '😀' and x // 2 > 1", "x // 2"),
    ("x >\n 1 and\n eval(1)", "eval"),
    ("x\t> 1 and\tgetattr(x, 'y')", "getattr"),
    ("x > 1 and applicant.age > 'é'", "applicant.age > 'é'"),
    ("'中文' == s and not x", "x"),
    ("channel == 'appp'", "'appp'"),
    ("channel in ('app', 'branche')", "'branche'"),
])
def test_spans_point_at_the_offending_characters(source: str, span: str) -> None:
    problem = refuse(source).problem
    assert source[problem.start:problem.end] == span, problem


def test_syntax_error_span_after_non_ascii_text() -> None:
    source = "'中文中文' == s and x = 1"
    problem = refuse(source).problem
    assert problem.code == "expr-syntax"
    assert source[problem.start] == "="


def test_carriage_returns_are_whitespace() -> None:
    # Line breaks inside an expression are spaces, whatever the line ending.
    for source in ("x >\r\n 1", "x >\r 1", "x > 1 and\r\n  s == 'a'"):
        assert check_expression(source, ENV).info.type == "bool"


@pytest.mark.parametrize("source", ["contains(s, '\\d')", "1if flag else 2", "x > 1and flag"])
def test_result_does_not_depend_on_the_warnings_filter(source: str) -> None:
    def outcome(action: str) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter(action)  # type: ignore[arg-type]
            try:
                return check_expression(source, ENV).info.type
            except ExprError as exc:
                return exc.problem.code

    assert outcome("error") == outcome("ignore")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome("always")
    assert not caught, [str(w.message) for w in caught]


_TOKENS = ["x", "s", "flag", "applicant.age", "channel", "1", "0", "2.5", "'a'", "'app'", "null",
           "true", "(", ")", ",", " + ", " - ", " * ", " / ", " < ", " == ", " in ", " not in ",
           " and ", " or ", "not ", " if ", " else ", "min(", "coalesce(", "len(", "clip(",
           "is_null(", "(1, 2)", "('a',)", "()", "[", "]", ":", "**", "lambda ", "_x", ".",
           "f'", "'", "__class__", "=", ";"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), max_size=16))
def test_any_text_gives_a_tree_or_an_expr_error(parts: list[str]) -> None:
    source = "".join(parts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warnings filter is not under test here
        try:
            node = check_expression(source, ENV)
        except ExprError as exc:
            assert exc.problem.code
            assert 0 <= exc.problem.start <= exc.problem.end <= max(len(source), 1)
            return
    assert node.info.type in {"int", "float", "bool", "str", "date", "null"}


def test_a_strategy_with_a_sandbox_escape_does_not_compile(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "s.yaml"
    path.write_text(
        "strategy: s\nversion: 1\nstage: origination\n"
        "inputs:\n  age: {type: int}\n"
        "rules:\n"
        f"  - {{id: r, when: \"__import__('os').system('touch {marker}') == 0\", action: decline, reason: R}}\n"
        "  - {id: q, when: \"age.__class__ == 1\", action: decline, reason: Q}\n",
        encoding="utf-8")
    with pytest.raises(StrategyFileError) as info:
        compile_strategy(path)
    codes = sorted(d.code for d in info.value.diagnostics)
    assert codes == ["expr-forbidden", "unknown-function"]
    assert not marker.exists()
