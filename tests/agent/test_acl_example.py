"""The example broker config (docs/mosquitto.conf.example + docs/mosquitto-acl.example) works.

Starts a real mosquitto from the example files (paths and ports rewritten to a temporary directory
and free loopback ports), then checks with paho-mqtt clients that each camera's credentials reach
only that camera's topics, that the analyzer and Home Assistant get what they need, and that the
TLS listener accepts a camera. Needs the mosquitto broker and mosquitto_passwd (Debian package
`mosquitto`); the TLS test also needs the openssl command line tool to make certificates.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from roiwatch_dev import REPO
from roiwatch_dev.mosquitto import Mosquitto, find_mosquitto
from roiwatch_dev.ports import free_port

ACL_EXAMPLE = REPO / "docs" / "mosquitto-acl.example"
CONF_EXAMPLE = REPO / "docs" / "mosquitto.conf.example"

HOST = "127.0.0.1"
WAIT = 10.0  # seconds to wait for any broker round trip
NOT_AUTHORIZED = 0x87  # MQTT 5 reason code


def accepted(reason_code: int) -> bool:
    """MQTT 5 PUBACK/SUBACK reason codes below 0x80 mean success (e.g. 0x10: no subscribers)."""
    return reason_code < 0x80


PASSWORDS = {
    "homeassistant": "ha-secret",
    "analyzer": "analyzer-secret",
    "porch": "porch-secret",
    "garden": "garden-secret",
}


MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
OPENSSL = shutil.which("openssl")

pytestmark = pytest.mark.skipif(
    find_mosquitto() is None or MOSQUITTO_PASSWD is None,
    reason="mosquitto broker / mosquitto_passwd not installed (apt-get install mosquitto)",
)


# --------------------------------------------------------------------------------------------
# Broker


def _make_certs(directory: Path) -> None:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost."""
    directory.mkdir()

    def run(*args: str) -> None:
        assert OPENSSL is not None
        subprocess.run([OPENSSL, *args], cwd=directory, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=roiwatch-test-ca")  # fmt: skip
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (directory / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip


def _rewrite(text: str, old: str, new: str) -> str:
    assert old in text, f"{CONF_EXAMPLE.name} no longer contains {old!r}; update this test"
    return text.replace(old, new)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A throw-away CA and server certificate for the TLS listener; None without openssl."""
    if OPENSSL is None:
        return None
    directory = tmp_path_factory.mktemp("tls") / "certs"
    _make_certs(directory)
    return directory


@pytest.fixture
def tls_port(certs: Path | None) -> int | None:
    """The TLS listener's port; None without certificates (the plain listener only is tested)."""
    return free_port() if certs is not None else None


@pytest.fixture
def broker_options(certs: Path | None, tls_port: int | None) -> dict[str, Any]:
    """The test's broker (tests/conftest.py) from the example files, paths and ports rewritten."""

    def conf(folder: Path, port: int) -> str:
        acl = folder / "roiwatch.acl"
        shutil.copyfile(ACL_EXAMPLE, acl)
        text = CONF_EXAMPLE.read_text()
        text = _rewrite(text, "password_file /etc/mosquitto/passwd", f"password_file {folder}/passwd")
        text = _rewrite(text, "acl_file /etc/mosquitto/roiwatch.acl", f"acl_file {acl}")
        text = _rewrite(text, "persistence_location /var/lib/mosquitto/", f"persistence_location {folder}/")
        text = _rewrite(text, "log_dest syslog", "log_dest stderr")
        text = _rewrite(text, "\nlistener 1883 127.0.0.1\n", f"\nlistener {port} {HOST}\n")
        if certs is None:
            return text[: text.index("\nlistener 8883\n")]
        text = _rewrite(text, "/etc/mosquitto/certs/", f"{certs}/")
        return _rewrite(text, "\nlistener 8883\n", f"\nlistener {tls_port} {HOST}\n")

    return {"passwords": PASSWORDS, "conf": conf}


# --------------------------------------------------------------------------------------------
# Clients


class Peer:
    """A paho MQTT 5 client with blocking helpers that return the broker's reason codes."""

    def __init__(
        self,
        port: int,
        user: str | None,
        password: str | None,
        ca_file: Path | None,
        will: tuple[str, str] | None = None,
    ):
        self.user = user
        self.client = Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"test-{user}-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file))
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self._cond = threading.Condition()
        self.connect_rc: int | None = None
        self.disconnected = False
        self._acks: dict[int, int] = {}
        self._subacks: dict[int, list[int]] = {}
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.connect(HOST, port, keepalive=30)
        self.client.loop_start()
        self._wait(lambda: self.connect_rc is not None, "CONNACK")

    # callbacks (network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._cond:
            self.connect_rc = reason_code.value
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._cond:
            self.disconnected = True
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._cond:
            self._acks[mid] = reason_code.value
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._cond:
            self._subacks[mid] = [rc.value for rc in reason_codes]
            self._cond.notify_all()

    def _on_message(self, client, userdata, msg: MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self._cond.notify_all()

    # helpers (test thread)
    def _wait(self, predicate, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout=WAIT):
                raise AssertionError(f"{self.user}: no {what} within {WAIT} s")

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> int:
        """Publish with QoS 1; returns the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        self._wait(lambda: info.mid in self._acks, f"PUBACK for {topic}")
        return self._acks[info.mid]

    def subscribe(self, topic: str) -> int:
        """Subscribe with QoS 1; returns the SUBACK reason code."""
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        self._wait(lambda: mid in self._subacks, f"SUBACK for {topic}")
        return self._subacks[mid][0]

    def wait_for(self, topic: str, payload: bytes | None = None) -> bytes:
        """Wait for a message on topic (with that payload, if given); returns its payload."""

        def match(t: str, p: bytes) -> bool:
            return t == topic and (payload is None or p == payload)

        self._wait(lambda: any(match(t, p) for t, p, _ in self.messages), f"message on {topic}")
        with self._cond:
            return next(p for t, p, _ in self.messages if match(t, p))

    def payloads(self) -> set[bytes]:
        with self._cond:
            return {p for _, p, _ in self.messages}

    def topics(self) -> set[str]:
        with self._cond:
            return {t for t, _, _ in self.messages}

    def drop(self) -> None:
        """Disconnect so that the broker publishes the last will (MQTT 5 reason code 4), and
        wait until the connection is closed: the broker has then read the DISCONNECT."""
        self.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=4))
        self._wait(lambda: self.disconnected, "disconnect")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def connect(broker: Mosquitto, certs: Path | None, tls_port: int | None) -> Iterator:
    peers: list[Peer] = []

    def _connect(
        user: str | None,
        password: str | None = None,
        tls: bool = False,
        will: tuple[str, str] | None = None,
    ) -> Peer:
        if password is None and user is not None:
            password = PASSWORDS[user]
        if tls:
            assert certs is not None and tls_port is not None
            peer = Peer(tls_port, user, password, certs / "ca.crt", will)
        else:
            peer = Peer(broker.port, user, password, None, will)
        peers.append(peer)
        return peer

    yield _connect
    for peer in peers:
        peer.close()


def _sentinel(observer: Peer, sender: Peer, topic: str) -> None:
    """Publish a permitted message after the ones under test and wait for the observer to get
    it: messages from one sender reach a subscriber in order, so anything the broker let
    through before the sentinel has arrived by then."""
    payload = uuid.uuid4().hex.encode()
    assert accepted(sender.publish(topic, payload))
    observer.wait_for(topic, payload)


CAMERA_WRITES = ["announce", "availability", "status", "roi/r1", "detected", "snapshot", "preview", "frame"]
RESULT_WRITES = ["status", "roi/r1", "detected", "snapshot", "preview"]


# --------------------------------------------------------------------------------------------
# Tests


def test_credentials_are_required(connect) -> None:
    assert connect(None).connect_rc != 0, "anonymous client was let in"
    assert connect("porch", "wrong password").connect_rc != 0, "wrong password was accepted"
    assert connect("porch").connect_rc == 0


def test_camera_publishes_its_own_topics_only(connect) -> None:
    ha = connect("homeassistant")
    assert accepted(ha.subscribe("roiwatch/#"))
    porch = connect("porch")

    for leaf in CAMERA_WRITES:
        assert accepted(porch.publish(f"roiwatch/porch/{leaf}", b"x")), leaf
        ha.wait_for(f"roiwatch/porch/{leaf}")

    denied = [
        "roiwatch/garden/status",
        "roiwatch/garden/roi/r1",
        "roiwatch/garden/detected",
        "roiwatch/garden/snapshot",
        "roiwatch/garden/frame",
        "roiwatch/garden/announce",
        "roiwatch/garden/availability",
        "roiwatch/garden/preview",
        "roiwatch/porch/config",  # only HA configures and arms a camera, and asks for previews
        "roiwatch/porch/armed",
        "roiwatch/porch/preview_request",
        "roiwatch/porch/other",
        "roiwatch/porch",
        "elsewhere/porch/status",
    ]
    for topic in denied:
        assert porch.publish(topic, b"evil") == NOT_AUTHORIZED, topic
    _sentinel(ha, porch, "roiwatch/porch/status")
    leaked = ha.topics() & set(denied)
    assert not leaked, f"the broker passed on {leaked}"


def test_camera_reads_only_its_own_config_and_armed(connect) -> None:
    ha = connect("homeassistant")
    for cam in ("porch", "garden"):
        assert accepted(ha.publish(f"roiwatch/{cam}/config", f"{cam}-config", retain=True))
        assert accepted(ha.publish(f"roiwatch/{cam}/armed", "ON", retain=True))
    garden = connect("garden")
    assert accepted(garden.publish("roiwatch/garden/status", "garden-status", retain=True))

    porch = connect("porch")
    # retained messages of another camera: the subscription brings nothing
    for topic in ("roiwatch/garden/config", "roiwatch/garden/armed", "roiwatch/garden/status"):
        porch.subscribe(topic)
    # wildcards too; and its own retained config and armed do arrive (after the above)
    porch.subscribe("roiwatch/+/config")
    porch.subscribe("roiwatch/+/armed")
    porch.subscribe("roiwatch/+/preview_request")
    assert porch.wait_for("roiwatch/porch/config") == b"porch-config"
    assert porch.wait_for("roiwatch/porch/armed") == b"ON"
    assert not porch.topics() - {"roiwatch/porch/config", "roiwatch/porch/armed"}

    # live messages of another camera are not passed on either
    porch.subscribe("roiwatch/#")
    assert accepted(ha.publish("roiwatch/garden/config", "garden-config-2"))
    assert accepted(ha.publish("roiwatch/garden/armed", "OFF"))
    assert accepted(garden.publish("roiwatch/garden/frame", b"\xff\xd8"))
    assert accepted(garden.publish("roiwatch/garden/status", "garden-status-2"))
    assert accepted(ha.publish("roiwatch/garden/preview_request", ""))
    assert accepted(garden.publish("roiwatch/garden/preview", b"\xff\xd8"))
    _sentinel(porch, ha, "roiwatch/porch/armed")
    seen = porch.topics()
    assert not {t for t in seen if t.startswith("roiwatch/garden/")}, seen
    # its own preview requests do arrive (live: HA never retains them)
    _sentinel(porch, ha, "roiwatch/porch/preview_request")
    # the camera does not read its own results either (only config, armed, preview requests)
    assert accepted(porch.publish("roiwatch/porch/detected", "OFF"))
    assert accepted(porch.publish("roiwatch/porch/preview", b"\xff\xd8"))
    _sentinel(porch, ha, "roiwatch/porch/armed")
    assert not {"roiwatch/porch/detected", "roiwatch/porch/preview"} & porch.topics()


def test_analyzer_reads_frames_and_config_and_writes_results(connect) -> None:
    ha = connect("homeassistant")
    assert accepted(ha.subscribe("roiwatch/#"))
    assert accepted(ha.publish("roiwatch/garden/config", "garden-config", retain=True))
    assert accepted(ha.publish("roiwatch/garden/armed", "ON", retain=True))
    # A camera of Home Assistant: HA says whether its source gives pictures.
    assert accepted(ha.publish("roiwatch/garden/availability", "offline", retain=True))
    analyzer = connect("analyzer")
    for leaf in ("frame", "config", "armed", "availability", "preview_request"):
        assert accepted(analyzer.subscribe(f"roiwatch/+/{leaf}"))
    assert analyzer.wait_for("roiwatch/garden/config") == b"garden-config"
    assert analyzer.wait_for("roiwatch/garden/armed") == b"ON"
    assert analyzer.wait_for("roiwatch/garden/availability") == b"offline"
    assert accepted(ha.publish("roiwatch/garden/availability", "", retain=True))  # HA may clear it
    garden = connect("garden")
    assert accepted(garden.publish("roiwatch/garden/frame", b"\xff\xd8jpeg"))
    assert analyzer.wait_for("roiwatch/garden/frame") == b"\xff\xd8jpeg"
    assert accepted(ha.publish("roiwatch/garden/preview_request", "asked"))
    assert analyzer.wait_for("roiwatch/garden/preview_request") == b"asked"

    for cam in ("garden", "porch"):
        for leaf in RESULT_WRITES:
            assert accepted(analyzer.publish(f"roiwatch/{cam}/{leaf}", b"r")), (cam, leaf)
            ha.wait_for(f"roiwatch/{cam}/{leaf}")
    denied = [
        "roiwatch/garden/config",
        "roiwatch/garden/armed",
        "roiwatch/garden/announce",
        "roiwatch/garden/frame",
        "roiwatch/garden/preview_request",
    ]
    for topic in denied:
        assert analyzer.publish(topic, b"evil") == NOT_AUTHORIZED, topic
    _sentinel(ha, analyzer, "roiwatch/garden/status")
    assert b"evil" not in ha.payloads()

    # it does not read results or announcements
    assert analyzer.subscribe("roiwatch/+/status") in (0x01, NOT_AUTHORIZED)
    assert accepted(garden.publish("roiwatch/garden/status", "s"))
    _sentinel(analyzer, garden, "roiwatch/garden/frame")
    assert "roiwatch/garden/status" not in analyzer.topics()


def test_homeassistant_has_full_access(connect) -> None:
    ha = connect("homeassistant")
    assert accepted(ha.subscribe("roiwatch/#"))
    porch = connect("porch")
    for cam in ("porch", "garden"):
        for leaf in ("config", "armed", "preview_request", *CAMERA_WRITES):
            assert accepted(ha.publish(f"roiwatch/{cam}/{leaf}", b"h")), (cam, leaf)
            ha.wait_for(f"roiwatch/{cam}/{leaf}")
    assert accepted(porch.publish("roiwatch/porch/detected", "ON"))
    ha.wait_for("roiwatch/porch/detected", b"ON")
    # but nothing outside the base topic
    assert ha.publish("elsewhere/x", b"h") == NOT_AUTHORIZED


def test_tls_listener_accepts_a_camera(tls_port: int | None, connect) -> None:
    if tls_port is None:
        pytest.skip("openssl not installed: cannot make certificates for the TLS listener")
    ha = connect("homeassistant")
    assert accepted(ha.subscribe("roiwatch/porch/status"))
    porch = connect("porch", tls=True)
    assert porch.connect_rc == 0
    assert accepted(porch.publish("roiwatch/porch/status", '{"state":"running"}'))
    assert ha.wait_for("roiwatch/porch/status") == b'{"state":"running"}'
    assert porch.publish("roiwatch/garden/status", "x") == NOT_AUTHORIZED


def test_last_wills_work_for_own_topics_only(connect) -> None:
    ha = connect("homeassistant")
    assert accepted(ha.subscribe("roiwatch/#"))
    # the agent's availability and the detection process's status wills
    agent = connect("porch", will=("roiwatch/porch/availability", "offline"))
    detector = connect("porch", will=("roiwatch/porch/status", '{"state":"offline"}'))
    assert agent.connect_rc == 0 and detector.connect_rc == 0
    agent.drop()
    detector.drop()
    assert ha.wait_for("roiwatch/porch/availability", b"offline")
    assert ha.wait_for("roiwatch/porch/status", b'{"state":"offline"}')

    # a will on another camera's topic is never published (mosquitto 2.0 accepts the connection
    # and drops the will when it would be sent; a broker may also refuse the connection)
    rogue = connect("porch", will=("roiwatch/garden/availability", "offline"))
    if rogue.connect_rc == 0:
        rogue.drop()
    porch = connect("porch")  # connects (and publishes) only after the broker saw the drop
    _sentinel(ha, porch, "roiwatch/porch/detected")
    assert "roiwatch/garden/availability" not in ha.topics()
