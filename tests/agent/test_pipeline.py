"""The detection pipeline on real frames: motion gate, the feet rule, off_delay, sensitivity."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from roiwatch_agent import protocol
from roiwatch_agent.detection.person_model import load_person_detector
from roiwatch_agent.detection.pipeline import CONFIRM_INTERVAL, Pipeline

from .conftest import FEET, ROOFTOPS, TORSOS, WALKWAY, roi

DT = 0.2  # 5 fps


@pytest.fixture(scope="module")
def frames(vtest):
    cap = cv2.VideoCapture(str(vtest))
    out = []
    i = 0
    while len(out) < 200:
        ok, frame = cap.read()
        if not ok:
            break
        if i % 2 == 0:
            out.append(frame)
        i += 1
    return out


@pytest.fixture(scope="module")
def empty_street(frames):
    return np.median(np.stack(frames[::8]), axis=0).astype(np.uint8)


@pytest.fixture(scope="module")
def person():
    return load_person_detector()


def noisy(frame, seed):
    noise = np.random.default_rng(seed).normal(0, 2, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def run(pipeline, frames, t0=0.0):
    events = []
    for i, frame in enumerate(frames):
        now = t0 + i * DT
        events += [(now, rid, on) for rid, on in pipeline.process(frame, now).changes]
    return events


def cfg(*rois):
    return protocol.CameraConfig("cam", "smart", 1, rois)


def _scene(frames, empty_street):
    """2 s of empty street, 6 s of walkers (vtest frames 100-158), 8 s of empty street."""
    return (
        [noisy(empty_street, i) for i in range(10)]
        + frames[50:80]
        + [noisy(empty_street, i) for i in range(40)]
    )


LAST_PEOPLE = (10 + 30 - 1) * DT  # time of the last frame with walkers in _scene


def test_still_scene_never_runs_the_person_model(empty_street, person):
    pipeline = Pipeline(cfg(roi("walk", WALKWAY)), person)
    events = run(pipeline, [noisy(empty_street, i) for i in range(40)])
    assert events == []
    assert pipeline.inferences == 0


def test_walkers_turn_person_roi_on_and_off_after_delay(frames, empty_street, person):
    pipeline = Pipeline(cfg(roi("walk", WALKWAY, off_delay=3), roi("roof", ROOFTOPS)), person)
    events = run(pipeline, _scene(frames, empty_street))
    walk = [(t, on) for t, rid, on in events if rid == "walk"]
    assert [on for _, on in walk] == [True, False]
    on_at, off_at = walk[0][0], walk[1][0]
    assert 10 * DT <= on_at <= 15 * DT  # within a second of the walkers appearing
    # off_delay after the last confirmation, which is at most CONFIRM_INTERVAL before they left.
    assert LAST_PEOPLE - CONFIRM_INTERVAL + 3 - DT <= off_at <= LAST_PEOPLE + 3 + 2.0
    assert all(rid != "roof" for _, rid, _ in events)  # nobody's feet are on the rooftops
    # While ON, the model only confirms: it ran on far fewer frames than there were.
    assert pipeline.inferences < 30


def test_a_person_counts_where_their_feet_are_not_where_their_body_is(frames, empty_street, person):
    """A band across the torsos stays OFF; a thin band at their feet turns ON (see conftest)."""
    pipeline = Pipeline(cfg(roi("torsos", TORSOS), roi("feet", FEET)), person)
    events = run(pipeline, _scene(frames, empty_street))
    assert [(rid, on) for _, rid, on in events if rid == "feet"] == [("feet", True), ("feet", False)]
    assert [e for e in events if e[1] == "torsos"] == []


def test_each_roi_holds_on_for_its_own_off_delay(frames, empty_street, person):
    """The same region with off_delay 2 s, 6 s and 0: each turns OFF its own delay after the walkers."""
    rois = [roi(rid, WALKWAY, off_delay=delay) for rid, delay in (("short", 2), ("long", 6), ("none", 0))]
    events = run(Pipeline(cfg(*rois), person), _scene(frames, empty_street))
    offs = {rid: t for t, rid, on in events if not on}
    assert [rid for _, rid, on in events if on and rid != "none"] == ["short", "long"]  # no flicker
    # off_delay 0: ON on the frames with a detection, OFF at the first without one.
    assert ("none", True) in [(rid, on) for _, rid, on in events] and offs["none"] <= LAST_PEOPLE + DT
    for rid, delay in (("short", 2), ("long", 6)):
        # Held for off_delay after the last confirmation, at most CONFIRM_INTERVAL before they left.
        assert LAST_PEOPLE + delay - CONFIRM_INTERVAL - DT <= offs[rid] <= LAST_PEOPLE + delay + DT, (
            rid,
            offs,
        )
    # Both saw the same walkers at the same frames: they differ by exactly the delays' difference.
    assert offs["long"] - offs["short"] == pytest.approx(4, abs=DT + 1e-9)


def test_motion_roi_needs_no_person_model(frames, empty_street):
    pipeline = Pipeline(cfg(roi("move", WALKWAY, detect="motion", off_delay=1)), None)
    clip = (
        [noisy(empty_street, i) for i in range(5)]
        + frames[50:60]
        + [noisy(empty_street, i) for i in range(20)]
    )
    events = run(pipeline, clip)
    assert [on for _, _, on in events] == [True, False]


def test_motion_and_person_regions_of_one_camera_both_work(frames, empty_street, person):
    """A motion region listed first must not keep the person region after it from being checked."""
    pipeline = Pipeline(cfg(roi("move", ROOFTOPS, detect="motion"), roi("walk", WALKWAY)), person)
    events = run(pipeline, _scene(frames, empty_street)[:20])
    assert ("walk", True) in [(rid, on) for _, rid, on in events]


def test_something_that_arrives_and_stays_stops_counting_as_motion(empty_street):
    """A parked car is motion when it arrives, then becomes background: the region turns OFF."""
    parked = empty_street.copy()
    cv2.rectangle(parked, (300, 300), (420, 360), (60, 60, 160), -1)
    clip = [noisy(empty_street, i) for i in range(5)] + [noisy(parked, i) for i in range(75)]
    events = run(Pipeline(cfg(roi("move", WALKWAY, detect="motion", off_delay=1)), None), clip)
    assert [on for _, _, on in events] == [True, False]
    assert events[1][0] < len(clip) * DT - 3  # well before the clip ends (15 s after arriving)


def test_low_sensitivity_ignores_small_motion(empty_street):
    # A small grey square moving in the corner of a large ROI.
    def clip():
        out = []
        for i in range(20):
            frame = empty_street.copy()
            x = 20 + 4 * i
            cv2.rectangle(frame, (x, 500), (x + 12, 512), (90, 90, 90), -1)
            out.append(frame)
        return out

    whole = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    keen = Pipeline(cfg(roi("keen", whole, detect="motion", sensitivity=100)), None)
    dull = Pipeline(cfg(roi("dull", whole, detect="motion", sensitivity=1)), None)
    assert run(keen, clip())
    assert run(dull, clip()) == []


def test_snapshot_shows_the_frame_that_turned_the_roi_on(frames, empty_street, person):
    pipeline = Pipeline(cfg(roi("walk", WALKWAY)), person)
    snapshots = []
    for i, frame in enumerate([empty_street] * 3 + frames[50:60]):
        result = pipeline.process(frame, i * DT)
        if result.snapshot:
            snapshots.append(result.snapshot)
    assert len(snapshots) == 1
    w, h = protocol.check_picture(snapshots[0])
    assert (w, h) == (768, 576)


def test_snapshot_labels_each_region_with_its_name(empty_street):
    """The picture HA shows names the regions drawn on it: another name, another picture."""

    def picture(name):
        pipeline = Pipeline(cfg(roi("walk", WALKWAY, name=name)), None)
        pipeline.process(empty_street, 0.0)  # fits the regions to the frame
        jpeg = pipeline.snapshot(empty_street, [])
        return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)

    y = WALKWAY[0][1]
    top = round(y * 575)  # the label sits just below the region's first corner
    label = np.s_[top : top + 24, :200]
    assert np.abs(picture("Driveway")[label].astype(int) - picture("Lawn")[label]).max() > 100
