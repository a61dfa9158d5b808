"""The detection pipeline on real frames: motion gate, the feet rule, off_delay, sensitivity."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from roiwatch_agent import protocol
from roiwatch_agent.person_model import load_person_detector
from roiwatch_agent.pipeline import CONFIRM_INTERVAL, Pipeline

from .conftest import ROOFTOPS, WALKWAY, roi

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
    return protocol.build_config("cam", "smart", 1, list(rois))


def test_still_scene_never_runs_the_person_model(empty_street, person):
    pipeline = Pipeline(cfg(roi("walk", WALKWAY)), person)
    events = run(pipeline, [noisy(empty_street, i) for i in range(40)])
    assert events == []
    assert pipeline.inferences == 0


def test_walkers_turn_person_roi_on_and_off_after_delay(frames, empty_street, person):
    pipeline = Pipeline(cfg(roi("walk", WALKWAY, off_delay=3), roi("roof", ROOFTOPS)), person)
    clip = (
        [noisy(empty_street, i) for i in range(10)]
        + frames[50:80]
        + [noisy(empty_street, i) for i in range(40)]
    )
    events = run(pipeline, clip)
    walk = [(t, on) for t, rid, on in events if rid == "walk"]
    assert [on for _, on in walk] == [True, False]
    on_at, off_at = walk[0][0], walk[1][0]
    assert 10 * DT <= on_at <= 15 * DT  # within a second of the walkers appearing
    last_people = (10 + 30 - 1) * DT
    # off_delay after the last confirmation, which is at most CONFIRM_INTERVAL before they left.
    assert last_people - CONFIRM_INTERVAL + 3 - DT <= off_at <= last_people + 3 + 2.0
    assert all(rid != "roof" for _, rid, _ in events)  # nobody's feet are on the rooftops
    # While ON, the model only confirms: it ran on far fewer frames than there were.
    assert pipeline.inferences < 30


def test_motion_roi_needs_no_person_model(frames, empty_street):
    pipeline = Pipeline(cfg(roi("move", WALKWAY, detect="motion", off_delay=1)), None)
    clip = (
        [noisy(empty_street, i) for i in range(5)]
        + frames[50:60]
        + [noisy(empty_street, i) for i in range(20)]
    )
    events = run(pipeline, clip)
    assert [on for _, _, on in events] == [True, False]


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
