"""Strict JSON (population.inputcheck.json_loads): a control character in any string or key is
refused with its path, whether the text escapes it or not; the check of a clean text skips the
string search and answers the same."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from population.errors import DomainError
from population.inputcheck import MAX_JSON_DEPTH, json_check, json_loads

CONTROLS = [chr(c) for c in range(0x20)] + ["\x7f"]


def _refusal(text: str):
    with pytest.raises(DomainError) as excinfo:
        json_loads(text)
    return excinfo.value


@pytest.mark.parametrize("char", CONTROLS)
def test_every_control_character_is_refused_in_a_value_with_its_path(char):
    text = json.dumps({"items": [{"name": "ok"}, {"name": f"a{char}b"}]})
    error = _refusal(text)
    assert error.code == "invalid_character"
    assert error.errors == {"items.1.name": ["control characters are not allowed"]}


@pytest.mark.parametrize("escape", ["\\u0000", "\\u001F", "\\u001f", "\\u007F", "\\n", "\\t"])
def test_escaped_controls_in_keys_and_at_the_top_are_refused(escape):
    assert _refusal('{"k' + escape + '": 1}').code == "invalid_character"
    assert _refusal('"' + escape + '"').code == "invalid_character"


@pytest.mark.parametrize("char", CONTROLS)
def test_a_raw_control_character_is_refused_too(char):
    # DEL is allowed raw by JSON (and refused here); the others are not JSON at all.
    error = _refusal('{"items": [{"name": "a' + char + 'b"}]}')
    assert error.code == ("invalid_character" if char == "\x7f" else "parse_error")


def test_text_with_an_escaped_backslash_only_is_accepted():
    assert json_loads(r'{"name": "a\\nb", "u": "\\u0000"}') == {"name": "a\\nb", "u": "\\u0000"}


def test_depth_is_still_refused_in_a_text_without_escapes():
    text = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    assert _refusal(text).code == "too_deep"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters(max_codepoint=0x80)),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=0x80), max_size=3), children)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(value=json_values)
def test_the_skip_answers_exactly_as_the_full_check(value):
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):  # DEL escaped, raw
        assert _verdict(text, skip=True) == _verdict(text, skip=False)


def _verdict(text: str, *, skip: bool):
    try:
        json_check(json.loads(text), **({"text": text} if skip else {}))
    except DomainError as exc:
        return (exc.code, exc.errors)
    return None
