"""The region editor accepts exactly the numbers the protocol accepts.

The panel's own check (frontend/form.js, run by Node) over generated input (Hypothesis), against
protocol.FieldRule.check: whatever the panel sends, the server takes as typed; whatever the
panel refuses, the server would refuse too. The panel is given the rules as the websocket API
hands them over (protocol.panel_limits()); the API sends exactly those (tests/ha/test_websocket.py).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roiwatch_agent import protocol as p
from roiwatch_dev import REPO

FORM_JS = REPO / "custom_components/roiwatch/frontend/form.js"

# What a number input's value is when it holds a number (HTML's "valid floating-point number");
# for anything else the browser gives the panel "".
HTML_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?", re.ASCII)

# One Node process for the whole module: a line [op, rule, arg] in, a JSON line out.
RUNNER = """
import { createInterface } from 'node:readline';
const form = await import(process.argv[1]);
for await (const line of createInterface({ input: process.stdin })) {
  const [op, rule, arg] = JSON.parse(line);
  const answer = op === 'send' ? form.parseNumber(rule, arg) : form.ruleText(rule);
  process.stdout.write(JSON.stringify(answer) + '\\n');
}
"""

# The panel's number fields, and rules of other shapes the same code must follow.
PANEL_RULES = [p.SENSITIVITY, p.OFF_DELAY]
RULES = [*PANEL_RULES, p.FPS, p.FieldRule("every_5", 0, 100, 5, 0)]

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Panel:
    """The panel's form.js in Node, asked one question at a time."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc

    def _ask(self, op: str, rule: dict[str, Any], arg: str | None = None) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps([op, rule, arg]) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        assert line, f"node ended: {self._proc.stderr.read() if self._proc.stderr else ''}"
        return json.loads(line)

    def sends(self, rule: dict[str, Any], typed: str) -> str:
        """What the panel sends for `typed` in a field of `rule`, as JSON text ("null": refused)."""
        return json.dumps(self._ask("send", rule, typed))

    def rule_text(self, rule: dict[str, Any]) -> str:
        """The panel's error text for a number `rule` refuses."""
        return str(self._ask("text", rule))


@pytest.fixture(scope="module")
def panel() -> Iterator[Panel]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node (20 or newer) is not installed: the panel's JavaScript cannot run")
    with subprocess.Popen(
        [node, "--input-type=module", "-e", RUNNER, FORM_JS.as_uri()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        yield Panel(proc)
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0


def protocol_value(rule: p.FieldRule, typed: str) -> int | float | None:
    """What the server holds for a number typed in the field, or None if its rule refuses it."""
    if not HTML_NUMBER.fullmatch(typed):
        return None
    try:
        return rule.check(float(typed))
    except p.ProtocolError:
        return None


def typed_numbers(rule: p.FieldRule) -> st.SearchStrategy[str]:
    """What a user may type: numbers in and around the range, any number, HTML's number forms, junk."""
    lo, hi = math.floor(rule.min), math.ceil(rule.max)
    return st.one_of(
        st.integers(lo - 3, hi + 3).map(str),
        st.integers().map(str),
        st.floats(rule.min - 2, rule.max + 2).map(repr),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.from_regex(HTML_NUMBER, fullmatch=True),
        st.text(max_size=8),
    )


def _rule_id(rule: p.FieldRule) -> str:
    return rule.field


def _panel_rule(rule: p.FieldRule) -> dict[str, Any]:
    """The rule as the panel is handed it: from panel_limits() for its own fields."""
    limits = p.panel_limits()
    return limits[rule.field] if rule.field in limits else rule.limits()


def _check(panel: Panel, rule: p.FieldRule, typed: str) -> None:
    sent = panel.sends(_panel_rule(rule), typed)
    expected = protocol_value(rule, typed)
    if expected is None:
        assert sent == "null", f"the panel sends {sent} for {typed!r}, which the protocol refuses"
    else:
        assert sent != "null", f"the panel refuses {typed!r}, which the protocol accepts"
        # What arrives (JSON, as the websocket carries it) is what was typed, and accepted.
        assert rule.check(json.loads(sent)) == expected, typed


@pytest.mark.parametrize("rule", RULES, ids=_rule_id)
def test_the_panel_and_the_protocol_agree_on_a_users_usual_edge_cases(
    panel: Panel, rule: p.FieldRule
) -> None:
    """The bounds and one past them, fractions, the forms of a number, things that are no number."""
    edges = [rule.min, rule.max, rule.min - 1, rule.max + 1, rule.default]
    cases = [repr(v) for v in edges] + [str(int(v)) for v in edges]
    cases += [repr(math.nextafter(rule.min, -math.inf)), repr(math.nextafter(rule.max, math.inf))]
    cases += ["50.5", "0.5", "2.5", "1e2", "1E1", ".5", "-0", "-0.0", "1e400", "-1e400", "5e-324"]
    cases += ["", " ", "abc", " 5", "5 ", "+5", "5.", "0x10", "1_0", "Infinity", "NaN", "1e", "--1"]
    for typed in cases:
        _check(panel, rule, typed)


@pytest.mark.parametrize("rule", RULES, ids=_rule_id)
@SETTINGS
@given(data=st.data())
def test_the_panel_sends_exactly_the_numbers_the_protocol_accepts(
    panel: Panel, rule: p.FieldRule, data: st.DataObject
) -> None:
    _check(panel, rule, data.draw(typed_numbers(rule), label="typed"))


def test_the_panel_says_what_its_fields_take(panel: Panel) -> None:
    limits = p.panel_limits()
    assert panel.rule_text(limits["sensitivity"]) == "Enter a whole number from 1 to 100."
    assert panel.rule_text(limits["off_delay"]) == "Enter a number from 0 to 3600."
    assert (
        panel.rule_text({"min": 0, "max": 100, "step": 5}) == "Enter a number from 0 to 100, in steps of 5."
    )
