"""The feet rule and the sensitivity thresholds on exact boxes, as the person model reports them.

The real-video tests (test_pipeline.py) decide the rule on walkers; these pin the edges a user
meets: a person cut off by the bottom of the picture, a box half over a region's side, and the
thresholds docs/protocol.md promises for the sensitivity slider.
"""

from __future__ import annotations

import pytest

from roiwatch_agent.detection.roi import Roi, motion_min_fraction, person_min_score

from .conftest import _rect, roi

W, H = 768, 576  # vtest.avi's size; boxes are (x, y, w, h, score) in its pixels


def fitted(points: list[list[float]]) -> Roi:
    region = Roi(roi("r", points))
    region.fit(W, H, (W // 4, H // 4))
    return region


def test_a_person_cut_off_by_the_bottom_of_the_picture_counts_in_a_region_drawn_to_it():
    """The model clips boxes to the frame, so a person close to the camera ends at y = H."""
    driveway = fitted([[0.2, 0.5], [0.8, 0.5], [0.8, 1.0], [0.2, 1.0]])
    assert driveway.contains_feet((300, 380, 60, H - 380, 0.9))
    assert not fitted(_rect(0, 200, W, 400)).contains_feet((300, 380, 60, H - 380, 0.9))


def test_the_feet_are_the_bottom_centre_of_the_box_not_an_edge():
    path = fitted(_rect(300, 0, 340, H))  # a path 40 px wide, running down the picture
    assert path.contains_feet((280, 100, 80, 200, 0.9))  # feet at x 320
    assert not path.contains_feet((310, 100, 80, 200, 0.9))  # left side over the path, feet at 350
    assert not path.contains_feet((250, 100, 80, 200, 0.9))  # right side over the path, feet at 290
    lawn = fitted(_rect(0, 300, W, 400))  # a band across the picture
    assert lawn.contains_feet((100, 250, 40, 100, 0.9))  # head above it, feet at y 350
    assert not lawn.contains_feet((100, 320, 40, 120, 0.9))  # body in it, feet below at 440


@pytest.mark.parametrize(
    ("sensitivity", "score", "fraction"), [(1, 0.746, 0.0416), (50, 0.55, 0.022), (100, 0.35, 0.002)]
)
def test_sensitivity_gives_the_documented_thresholds(sensitivity, score, fraction):
    """docs/protocol.md: the person score and the share of a region that must move."""
    assert person_min_score(sensitivity) == pytest.approx(score)
    assert motion_min_fraction(sensitivity) == pytest.approx(fraction)
