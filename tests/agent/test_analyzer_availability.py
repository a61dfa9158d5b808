"""An offline dumb camera (its last will, or Home Assistant's source camera gone) leaves no stale ON.

The analyzer stops its detection as on a disarm, which clears its regions; back online, it
detects again. Real mosquitto, the real analyzer, vtest.avi's frames.
"""

from __future__ import annotations

import threading
import time

from roiwatch_agent import protocol

from .conftest import TOPICS, WALKWAY, make_config, roi, vtest_jpegs

CAM = "yard"


def test_offline_camera_clears_its_regions_and_online_resumes(recorder, start_agent, vtest):
    # A long off delay: without the stop, the region would stay ON well past the outage.
    recorder.publish(TOPICS.config(CAM), make_config(CAM, 1, [roi("walk", WALKWAY, off_delay=60)], "dumb"))
    recorder.publish(TOPICS.availability(CAM), protocol.ONLINE)
    start_agent("analyzer")
    frames = vtest_jpegs(vtest, 40, 640)
    sending = threading.Event()
    done = threading.Event()

    def camera() -> None:  # the dumb camera: 5 pictures a second while "sending"
        i = 0
        while not done.is_set():
            if sending.is_set():
                recorder.publish(TOPICS.frame(CAM), frames[i % len(frames)], retain=False, qos=0)
                i += 1
            time.sleep(0.2)

    thread = threading.Thread(target=camera, daemon=True)
    thread.start()
    try:
        sending.set()
        on = recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", timeout=30)

        # The camera goes offline: its frames stop, the analyzer clears the region and stops.
        sending.clear()
        t0 = time.monotonic()
        recorder.publish(TOPICS.availability(CAM), protocol.OFFLINE)
        recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "OFF", after=on.at, timeout=10)
        recorder.wait_status(CAM, state="stopped", after=t0, timeout=10)

        # Back online with people: detection runs again and sees them.
        t1 = time.monotonic()
        recorder.publish(TOPICS.availability(CAM), protocol.ONLINE)
        sending.set()
        recorder.wait_status(CAM, state="running", after=t1, timeout=30)
        recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", after=t1, timeout=30)
    finally:
        done.set()
        thread.join(5)
