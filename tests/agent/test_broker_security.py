"""The agent on a locked-down broker: TLS, username/password, secrets kept out of logs."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from roiwatch_agent import protocol
from roiwatch_agent.broker import parse_broker_url
from roiwatch_dev.mosquitto import Mosquitto, find_mosquitto
from roiwatch_dev.waiting import wait_until

from .conftest import TOPICS, WALKWAY, make_config, roi

SECRET = "s3cret-Pa55word"


def _tls_files(d: Path) -> None:
    """A CA and a server certificate for 127.0.0.1, made with openssl."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=roiwatch-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    )


@pytest.fixture
def secure_broker(tmp_path):
    if (
        find_mosquitto() is None
        or shutil.which("mosquitto_passwd") is None
        or shutil.which("openssl") is None
    ):
        pytest.skip("needs mosquitto, mosquitto_passwd and openssl (scripts/setup installs them)")
    _tls_files(tmp_path)
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "porch", SECRET], check=True)
    broker = Mosquitto(
        extra_conf=(
            f"password_file {passwd}\n"
            f"cafile {tmp_path / 'ca.pem'}\n"
            f"certfile {tmp_path / 'server.pem'}\n"
            f"keyfile {tmp_path / 'server.key'}\n"
        )
    )
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    broker.start()
    yield broker, tmp_path
    broker.close()


def _tls_client(broker: Mosquitto, ca: Path) -> tuple[mqtt.Client, list[tuple[str, bytes]]]:
    seen: list[tuple[str, bytes]] = []
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.username_pw_set("porch", SECRET)
    client.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED)
    ready = threading.Event()
    client.on_connect = lambda c, *_: c.subscribe("roiwatch/#", qos=1)
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = lambda _c, _u, m: seen.append((m.topic, m.payload))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    assert ready.wait(10)
    return client, seen


def test_agent_over_tls_with_password_file(secure_broker, start_agent, vtest):
    broker, d = secure_broker
    client, seen = _tls_client(broker, d / "ca.pem")
    try:
        client.publish(
            TOPICS.config("porch"), make_config("porch", 1, [roi("walk", WALKWAY)]), qos=1, retain=True
        )
        (d / "pw").write_text(SECRET + "\n")
        agent = start_agent(
            "smart",
            "--camera",
            "porch",
            "--source",
            str(vtest),
            "--loop",
            "--broker",
            f"mqtts://porch@127.0.0.1:{broker.port}",
            "--password-file",
            str(d / "pw"),
            "--ca-file",
            str(d / "ca.pem"),
        )

        def running() -> bool:
            return any(
                t == TOPICS.status("porch") and protocol.parse_status(p).state == "running"
                for t, p in seen
            )

        assert wait_until(running, timeout=30), agent.output
        assert SECRET not in agent.output
        assert "mqtts://porch:***@127.0.0.1" in agent.output or "mqtts://porch@127.0.0.1" in agent.output
    finally:
        client.loop_stop()
        client.disconnect()


def test_wrong_password_is_a_clear_error_and_never_logged(secure_broker, start_agent, vtest):
    broker, d = secure_broker
    agent = start_agent(
        "smart",
        "--camera",
        "porch",
        "--source",
        str(vtest),
        "--broker",
        f"mqtts://porch:wrong-{SECRET}@127.0.0.1:{broker.port}",
        "--ca-file",
        str(d / "ca.pem"),
    )
    assert wait_until(lambda: "refused the connection" in agent.output, timeout=20), agent.output
    assert "Not authorized" in agent.output or "Bad user name or password" in agent.output
    assert SECRET not in agent.output
    assert "trying again every 30 s" in agent.output
    time.sleep(5)  # a broker that refused the login is not retried at the 1-2 s of a restart
    assert agent.output.count("refused the connection") == 1, agent.output
    assert agent.proc.poll() is None  # it keeps retrying


def test_password_from_environment_and_url_parsing(monkeypatch):
    monkeypatch.setenv("ROIWATCH_MQTT_PASSWORD", SECRET)
    s = parse_broker_url("mqtts://cam%40home@broker.lan")
    assert (s.host, s.port, s.tls, s.username, s.password) == ("broker.lan", 8883, True, "cam@home", SECRET)
    assert SECRET not in repr(s) and SECRET not in s.redacted_url
    assert parse_broker_url("mqtt://h").port == 1883
    with pytest.raises(ValueError, match="mqtt:// or mqtts://"):
        parse_broker_url("http://h")
    with pytest.raises(ValueError, match="mqtts://"):
        parse_broker_url("mqtt://h", ca_file="/x")


def test_agent_keeps_retrying_until_the_broker_appears(start_agent, vtest, tmp_path):
    broker = Mosquitto()  # not started yet
    try:
        agent = start_agent(
            "smart", "--camera", "porch", "--source", str(vtest), "--loop", "--broker", broker.url
        )
        time.sleep(3)
        assert agent.proc.poll() is None
        broker.start()
        from roiwatch_dev.recorder import Recorder

        rec = Recorder(broker)
        try:
            rec.wait_for(TOPICS.availability("porch"), lambda m: m.text == "online", timeout=40)
        finally:
            rec.close()
    finally:
        broker.close()
