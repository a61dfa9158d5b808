"""A real mosquitto broker for tests: started on a free 127.0.0.1 port, stoppable and restartable."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .ports import free_port


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


class Mosquitto:
    """One mosquitto process; ``stop()``/``start()`` keep the port so clients can reconnect.

    By default anyone may connect. ``passwords`` (user: password) go to ``<dir>/passwd``, and only
    those users may. ``conf``: the whole configuration instead, made from the broker's folder
    and port (the example files of docs/, rewritten); ``extra_conf``: lines added to either.
    """

    def __init__(
        self,
        port: int | None = None,
        extra_conf: str = "",
        passwords: dict[str, str] | None = None,
        conf: Callable[[Path, int], str] | None = None,
    ) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (scripts/setup installs it)")
        self.binary = binary
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="roiwatch-mosq-"))
        self.conf = self.dir / "mosquitto.conf"
        if passwords:
            passwd = self.dir / "passwd"
            for user, password in passwords.items():
                create = [] if passwd.exists() else ["-c"]
                subprocess.run(
                    ["mosquitto_passwd", "-b", *create, str(passwd), user, password],
                    check=True,
                    capture_output=True,
                )
            if conf is None:
                extra_conf = f"password_file {passwd}\n{extra_conf}"
        settings = (
            conf(self.dir, self.port)
            if conf
            else (
                f"listener {self.port} 127.0.0.1\n"
                f"allow_anonymous {'false' if passwords else 'true'}\n"
                "persistence true\n"
                f"persistence_location {self.dir}/\n"
                "autosave_interval 1\n"
                "max_packet_size 268435455\n"
            )
        )
        # As root, mosquitto would drop to its own user and could not read test files.
        self.conf.write_text(f"{settings}\n{'user root' if os.geteuid() == 0 else ''}\n{extra_conf}")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf), "-v"], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
