"""An IP camera for the tests: GStreamer's RTSP server looping pre-encoded files, behind a password.

Run by the system Python (where Debian's python3-gi lives), as a subprocess of the tests:

    /usr/bin/python3 roiwatch_dev/rtsp_server.py --port 0 --mount /main=main.mp4 --mount /sub=sub.mp4

It prints ``ready <port>`` once it listens. With ``RTSP_USER`` and ``RTSP_PASSWORD`` in the
environment (never on the command line) every path needs that login (``--auth basic`` or
``digest``). Each client gets
its own pipeline from the file's first frame (a keyframe), so a reconnect shows frames at once;
the file's frames, parsed once into memory, are looped for ever with time stamps that keep going
up, as a live camera's do. Nothing is re-encoded: the server costs next to no CPU. Files are
H.264 or H.265 in MP4, named *h264* or *h265* (scripts/setup makes them from vtest.avi).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

CODECS = {"h264": "h264parse ! rtph264pay", "h265": "h265parse ! rtph265pay"}
ROLE = "camera-viewer"


def codec_of(path: str) -> str:
    """h264 or h265, from the file's name (scripts/setup names them so)."""
    for codec in CODECS:
        if codec in os.path.basename(path).lower():
            return codec
    raise SystemExit(f"rtsp_server: {path}: name the file *h264* or *h265*")


def read_access_units(path: str) -> tuple[str, list[Gst.Buffer], int]:
    """The file's frames, parsed once into memory: (caps, buffers, nanoseconds per frame)."""
    codec = codec_of(path)
    caps = f"video/x-{codec},stream-format=byte-stream,alignment=au"
    parse = f"qtdemux ! {codec}parse config-interval=-1 ! {caps}"
    pipeline = Gst.parse_launch(f"filesrc location={path} ! {parse} ! appsink name=out sync=false")
    sink = pipeline.get_by_name("out")
    pipeline.set_state(Gst.State.PLAYING)
    buffers = []
    while (sample := sink.emit("pull-sample")) is not None:
        buffers.append(sample.get_buffer())
    pipeline.set_state(Gst.State.NULL)
    if len(buffers) < 2:
        raise SystemExit(f"rtsp_server: {path}: no frames")
    frame_ns = (buffers[-1].pts - buffers[0].pts) // (len(buffers) - 1)
    return caps, buffers, frame_ns


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    """Each client its own pipeline: the file's frames from the first (a keyframe), looped for
    ever with time stamps that keep going up, paced by the pipeline's clock like a camera's."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.caps, self.buffers, self.frame_ns = read_access_units(path)
        pay = CODECS[codec_of(path)]
        # config-interval=-1: parameter sets with every keyframe, as cameras send them.
        self.set_launch(
            f"( appsrc name=src format=time ! {self.caps} ! {pay} name=pay0 pt=96 config-interval=-1 )"
        )
        self.set_shared(False)
        self.connect("media-configure", self._configure)

    def _configure(self, _factory: object, media: GstRtspServer.RTSPMedia) -> None:
        src = media.get_element().get_by_name("src")
        src.set_property("caps", Gst.Caps.from_string(self.caps))
        count = [0]

        def need_data(appsrc: Gst.Element, _length: int) -> None:
            i = count[0]
            count[0] += 1
            buf = self.buffers[i % len(self.buffers)].copy()
            buf.pts = buf.dts = i * self.frame_ns
            buf.duration = self.frame_ns
            appsrc.emit("push-buffer", buf)

        src.connect("need-data", need_data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mount", action="append", required=True, help="/path=file.mp4")
    parser.add_argument("--auth", choices=["basic", "digest"], default="basic", help="how the login is asked")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    user, password = os.environ.get("RTSP_USER"), os.environ.get("RTSP_PASSWORD")
    if user and password:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", ROLE)
        if args.auth == "digest":  # what most IP cameras ask
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(user, password, token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
    mounts = server.get_mount_points()
    for item in args.mount:
        path, _, file = item.partition("=")
        if not os.path.isfile(file):
            raise SystemExit(f"rtsp_server: {file} not found")
        factory = LoopingFactory(file)
        if user and password:
            permissions = GstRtspServer.RTSPPermissions()
            permissions.add_permission_for_role(ROLE, "media.factory.access", True)
            permissions.add_permission_for_role(ROLE, "media.factory.construct", True)
            factory.set_permissions(permissions)
        mounts.add_factory(path, factory)
    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on port {args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(f"ready {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
