"""Properties of the wire protocol over generated configs (Hypothesis).

Whatever HA can build, the agent reads back unchanged; whatever breaks one rule is refused with
an error naming the field that broke it, so a user (and the log) learns what to fix.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from roiwatch_agent import protocol as p

# No example database: CI starts from a clean clone, and the tree stays clean.
SETTINGS = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

camera_ids = st.from_regex(p.CAMERA_ID_RE, fullmatch=True)
roi_ids = st.from_regex(p.ROI_ID_RE, fullmatch=True)
names = st.text(min_size=1, max_size=p.MAX_NAME_LEN).filter(str.strip)


def numbers(rule: p.FieldRule) -> st.SearchStrategy[int | float]:
    """Every value the rule accepts, as a sender may hold it."""
    whole = st.integers(math.ceil(rule.min), math.floor(rule.max))
    if rule.step == 1:
        return whole
    return whole | st.floats(rule.min, rule.max, allow_nan=False)


@st.composite
def polygons(draw: st.DrawFn) -> list[list[float]]:
    """A star-shaped polygon (vertices in angle order around a centre: simple by construction)."""
    n = draw(st.integers(p.MIN_POINTS, p.MAX_POINTS))
    degrees = sorted(draw(st.sets(st.integers(0, 359), min_size=n, max_size=n)))
    cx, cy = draw(st.floats(0.3, 0.7)), draw(st.floats(0.3, 0.7))
    radii = draw(st.lists(st.floats(0.05, 0.29), min_size=n, max_size=n))
    points = [
        [cx + r * math.cos(math.radians(d)), cy + r * math.sin(math.radians(d))]
        for d, r in zip(degrees, radii, strict=True)
    ]
    # A span under 180 degrees may leave the centre outside; keep what the protocol calls simple.
    try:
        p.validate_points(points)
    except p.ProtocolError:
        reject()
    return points


regions = st.builds(
    p.RoiConfig,
    id=roi_ids,
    name=names,
    detect=st.sampled_from(p.DETECT_KINDS),
    points=polygons(),
    sensitivity=numbers(p.SENSITIVITY),
    off_delay=numbers(p.OFF_DELAY),
)


def camera_configs(min_rois: int = 0, max_rois: int = p.MAX_ROIS) -> st.SearchStrategy[p.CameraConfig]:
    return st.builds(
        p.CameraConfig,
        camera_id=camera_ids,
        kind=st.sampled_from(p.KINDS),
        revision=st.integers(0, 2**53),
        rois=st.lists(regions, min_size=min_rois, max_size=max_rois, unique_by=lambda r: r.id).map(tuple),
        fps=numbers(p.FPS),
    )


@SETTINGS
@given(camera_configs())
def test_what_ha_builds_the_agent_reads_back_unchanged(config: p.CameraConfig) -> None:
    wire = p.build_config(config)
    assert p.parse_config(wire, config.camera_id) == config
    assert p.build_config(p.parse_config(wire)) == wire  # canonical: one config, one payload


# --------------------------------------------------------------------------------------------
# One rule broken: refused, naming the field

not_numbers = st.one_of(st.booleans(), st.text(max_size=5), st.none(), st.just([1]), st.just(math.nan))


def breaking(rule: p.FieldRule) -> st.SearchStrategy[Any]:
    """Values the rule refuses: out of range, not a number, or between its steps."""
    out = st.one_of(
        st.floats(max_value=rule.min, exclude_max=True, allow_nan=False),
        st.floats(min_value=rule.max, exclude_min=True, allow_nan=False),
        st.integers(max_value=math.ceil(rule.min) - 1),
        st.integers(min_value=math.floor(rule.max) + 1),
        not_numbers,
    )
    if rule.step == 1:
        out |= st.floats(rule.min, rule.max).filter(lambda v: not v.is_integer())
    return out


# (path in the config, the values that break it); ``rois.0`` is a region of a valid config.
BREAKS: dict[str, st.SearchStrategy[Any]] = {
    "camera_id": st.text(max_size=70).filter(lambda s: not p.CAMERA_ID_RE.match(s)) | st.integers(),
    "kind": st.text(max_size=10).filter(lambda s: s not in p.KINDS) | st.none(),
    "revision": st.integers(max_value=-1)
    | st.floats(allow_nan=False).filter(lambda v: not v.is_integer())
    | st.booleans()
    | st.text(max_size=3),
    "fps": breaking(p.FPS),
    "rois": st.one_of(st.none(), st.text(max_size=3), st.just({"id": "a"})),
    "rois.0.id": st.text(max_size=70).filter(lambda s: not p.ROI_ID_RE.match(s)) | st.integers(),
    "rois.0.name": st.one_of(
        st.text(min_size=p.MAX_NAME_LEN + 1, max_size=p.MAX_NAME_LEN + 20),
        st.text(st.sampled_from(" \t\n"), max_size=4),
        st.integers(),
        st.none(),
    ),
    "rois.0.detect": st.text(max_size=10).filter(lambda s: s not in p.DETECT_KINDS) | st.integers(),
    "rois.0.points": st.one_of(
        st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=p.MIN_POINTS - 1),
        st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=p.MAX_POINTS + 1, max_size=40),
        st.just([[0, 0], [1, 0], [1, 1.0001]]),
        st.just([[0, 0], [1, 1], [1, 0], [0, 1]]),  # a bow tie
        st.just([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]),  # no area
        st.just([[0, 0, 0], [1, 0], [1, 1]]),
        not_numbers,
    ),
    "rois.0.sensitivity": breaking(p.SENSITIVITY),
    "rois.0.off_delay": breaking(p.OFF_DELAY),
}


def _set(wire: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node: Any = wire
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[leaf] = value


@pytest.mark.parametrize("path", list(BREAKS))
@SETTINGS
@given(data=st.data())
def test_a_broken_field_is_refused_naming_the_field(path: str, data: st.DataObject) -> None:
    config = data.draw(camera_configs(1, 3))
    wire = config.to_wire()
    value = data.draw(BREAKS[path], label=path)
    _set(wire, path, value)
    with pytest.raises(p.ProtocolError) as info:
        p.parse_config(json.dumps(wire), config.camera_id)
    assert info.value.code == "config_invalid", info.value
    assert info.value.field == path, info.value
    assert f"{path}:" in str(info.value)


@SETTINGS
@given(camera_configs(1, 3), st.integers(0, 3))
def test_two_regions_with_one_id_are_refused(config: p.CameraConfig, at: int) -> None:
    wire = config.to_wire()
    wire["rois"].insert(at, {**wire["rois"][0], "name": "copy"})
    with pytest.raises(p.ProtocolError) as info:
        p.parse_config(json.dumps(wire))
    assert (info.value.code, info.value.field) == ("config_duplicate_roi", "rois")


# --------------------------------------------------------------------------------------------
# What a form is told is exactly what the rule accepts


def _accepted_by_limits(limits: dict[str, Any], value: float) -> bool:
    """What a form given ``limits`` (the region editor's inputs) lets through."""
    step = limits["step"]
    return limits["min"] <= value <= limits["max"] and (step is None or value % step == 0)


@pytest.mark.parametrize("rule", [p.SENSITIVITY, p.OFF_DELAY, p.FPS], ids=lambda r: r.field)
@SETTINGS
@given(value=st.one_of(st.integers(-10, 4000), st.floats(-10, 4000, allow_nan=False)))
def test_a_rules_limits_describe_exactly_what_it_accepts(rule: p.FieldRule, value: float) -> None:
    try:
        rule.check(value)
        accepted = True
    except p.ProtocolError as err:
        assert err.field == rule.field
        accepted = False
    assert _accepted_by_limits(rule.limits(), value) == accepted


def test_the_region_editor_is_given_every_rule_of_a_region() -> None:
    limits = p.panel_limits()
    assert limits["sensitivity"] == {"min": 1, "max": 100, "step": 1}
    assert limits["off_delay"] == {"min": 0, "max": 3600, "step": None}
    assert (limits["min_points"], limits["max_points"], limits["name_max"]) == (3, 32, 64)
    assert (limits["max_regions"], limits["detect"]) == (16, ["person", "motion"])
    json.dumps(limits)  # it travels over the websocket API as it is
