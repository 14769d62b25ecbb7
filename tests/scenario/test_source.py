"""YAML to data with positions: lines, keys as written, one-line step text."""

from __future__ import annotations

from callprobe.scenario.source import field_name, parse


def test_lines_of_keys_values_and_items() -> None:
    src = parse("a:\n  b: [x,\n     y]\n  c:\n    - d: 1\n", "f.yaml")
    assert src.problems == []
    assert src.data == {"a": {"b": ["x", "y"], "c": [{"d": 1}]}}
    assert src.line_of(("a", "b")) == 2
    assert src.line_of(("a", "b", 1)) == 3
    assert src.line_of(("a", "c", 0, "d")) == 5
    assert src.line_of(("a", "c", 0, "missing")) == 5   # falls back to the holder
    assert src.line_of(("nowhere",)) == 1


def test_duplicate_keys_are_problems_at_the_second_key() -> None:
    src = parse("x: 1\ny:\n  z: 2\n  z: 3\n", "f.yaml")
    assert [(p.line, p.field, p.path) for p in src.problems] == [(4, "y.z", ("y", "z"))]
    assert "first given on line 3" in src.problems[0].message
    assert src.data == {"x": 1, "y": {"z": 3}}


def test_keys_and_raw_text_as_written() -> None:
    src = parse("no: 007\n1: yes\n", "f.yaml")
    assert src.data == {"no": 7, "1": True}
    assert src.raw_text(("no",)) == "007"
    assert src.raw_text(("1",)) == "yes"
    assert src.raw_text(("missing",)) is None


def test_merge_keys_and_aliases() -> None:
    src = parse("base: &b {p: 1, q: 2}\nuse: {<<: *b, q: 3}\nsame: *b\n", "f.yaml")
    assert src.problems == []
    assert src.data["use"] == {"p": 1, "q": 3}
    assert src.data["same"] == {"p": 1, "q": 2}


def test_recursive_alias_is_a_problem_not_a_crash() -> None:
    src = parse("a: &x [1, *x]\n", "f.yaml")
    assert any("refers to itself" in p.message for p in src.problems)


def test_snippet_is_one_line() -> None:
    text = ("steps:\n"
            "  - expect: {agent: bob, event: ringing}   # a comment\n"
            "  - invite:\n"
            "      from: alice\n"
            "      to: [bob, 'carol d']\n"
            "  - send_text: {from: a, to: b, text: \"two\\nlines\"}\n"
            "  - wait: 2s\n")
    src = parse(text, "f.yaml")
    assert src.snippet(("steps", 0)) == "expect: {agent: bob, event: ringing}"
    assert src.snippet(("steps", 1)) == "invite: {from: alice, to: [bob, 'carol d']}"
    assert src.snippet(("steps", 2)) == 'send_text: {from: a, to: b, text: "two\\nlines"}'
    assert src.snippet(("steps", 3)) == "wait: 2s"


def test_syntax_error_has_its_line() -> None:
    src = parse("a: 1\nb: [\n", "f.yaml")
    assert src.data is None
    assert len(src.problems) == 1 and src.problems[0].line == 3
    assert src.problems[0].message.startswith("YAML syntax error:")


def test_field_names_count_items_from_one() -> None:
    assert field_name(("steps", 0, "invite", "to", 1)) == "steps[1].invite.to[2]"
    assert field_name(()) == ""
