"""What the tests and the scripts share, never shipped: the broker runner, the agent launcher,
waiting, the test cameras (picture server, RTSP server, fake rpicam-vid) and build tools.

Importable from the repository root (pytest's ``pythonpath``; scripts put the root on sys.path).
"""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
"""The repository's root folder."""

VIDEO = Path(os.environ.get("ROIWATCH_TEST_VIDEO", REPO / ".cache/data/vtest.avi"))
"""The real video of people walking the tests, the bench and the demo use (scripts/setup fetches it)."""
