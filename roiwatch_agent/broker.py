"""Broker settings (URL, credentials, TLS) and the paho client factory."""

from __future__ import annotations

import logging
import os
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

_LOGGER = logging.getLogger(__name__)

PASSWORD_ENV = "ROIWATCH_MQTT_PASSWORD"  # noqa: S105 - a variable name, not a password
KEEPALIVE = 10  # seconds; short so a dead peer is noticed within seconds
# Seconds between reconnect tries: at most 2, so every role reports its state within a few
# seconds of a broker restart (a home broker restarts on every HA OS update).
RECONNECT_DELAY = (1, 2)
# A broker that refuses our login will not change its mind in 2 s: try again only this often.
LOGIN_REFUSED_DELAY = 30
_LOGIN_REFUSED = ("Bad user name or password", "Not authorized")
DISCONNECT_WITH_WILL = 0x04  # MQTT 5 DISCONNECT reason code "Disconnect with Will Message"


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how to connect. ``repr`` never shows the password."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    insecure: bool = False

    @property
    def redacted_url(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}:***@" if self.password else (f"{self.username}@" if self.username else "")
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_broker_url(
    url: str,
    *,
    password_file: str | None = None,
    ca_file: str | None = None,
    insecure: bool = False,
) -> BrokerSettings:
    """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...``.

    The password may instead come from ``password_file`` or the ROIWATCH_MQTT_PASSWORD
    environment variable (in that order of precedence after the URL), so it need not
    appear on a command line.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"broker URL must start with mqtt:// or mqtts://, got {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("broker URL has no host")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as err:
        raise ValueError(f"broker URL has an invalid port: {err}") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if password is None and password_file:
        password = Path(password_file).read_text().strip()
    if password is None:
        password = os.environ.get(PASSWORD_ENV) or None
    if ca_file and not tls:
        raise ValueError("--ca-file needs an mqtts:// broker URL")
    return BrokerSettings(parts.hostname, port, tls, username, password, ca_file, insecure)


def make_client(
    settings: BrokerSettings,
    client_id: str,
    will: tuple[str, bytes] | None = None,
    will_delay: int = 0,
) -> mqtt.Client:
    """A paho client set up for auth, TLS, last will and endless reconnects.

    MQTT 3.1.1, or MQTT 5 with ``will_delay``: the broker then holds the will that many seconds
    and drops it if a client of the same id connects meanwhile (a restarted detection process),
    so a restart never shows. That client needs a broker that speaks MQTT 5 (Mosquitto 1.6 and
    later, so every Home Assistant Mosquitto add-on, EMQX, HiveMQ).
    """
    if will_delay:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=True,
        )
    else:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=True,
            reconnect_on_failure=True,
        )
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(ca_certs=settings.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        if settings.insecure:
            client.tls_insecure_set(True)
    if will:
        properties = None
        if will_delay:
            properties = Properties(PacketTypes.WILLMESSAGE)
            properties.WillDelayInterval = will_delay
        client.will_set(will[0], will[1], qos=1, retain=True, properties=properties)
    client.reconnect_delay_set(*RECONNECT_DELAY)
    # Large pictures must not be dropped on the floor by a tiny queue.
    client.max_queued_messages_set(1000)
    client.enable_logger(logging.getLogger("roiwatch_agent.mqtt"))
    return client


def connection_accepted(client: mqtt.Client, settings: BrokerSettings, reason: ReasonCode) -> bool:
    """For ``on_connect``: whether the broker took us; logs a refusal and paces the retries."""
    if not reason.is_failure:
        client.reconnect_delay_set(*RECONNECT_DELAY)
        return True
    if reason.getName() in _LOGIN_REFUSED:
        client.reconnect_delay_set(LOGIN_REFUSED_DELAY, LOGIN_REFUSED_DELAY)
        _LOGGER.error(
            "Broker %s refused the connection: %s (check the user name, password and ACL); "
            "trying again every %d s",
            settings.redacted_url,
            reason,
            LOGIN_REFUSED_DELAY,
        )
    else:
        _LOGGER.error("Broker %s refused the connection: %s", settings.redacted_url, reason)
    return False


def disconnect(client: mqtt.Client, *, keep_will: bool = False) -> None:
    """Disconnect; ``keep_will`` (MQTT 5): the broker still publishes the last will, after its delay.

    That is how a planned stop leaves: HA learns the agent is gone once the will delay has passed,
    unless a restarted agent connects under the same client id before, which cancels the will.
    """
    if keep_will and client.protocol == mqtt.MQTTv5:
        client.disconnect(ReasonCode(PacketTypes.DISCONNECT, identifier=DISCONNECT_WITH_WILL))
    else:
        client.disconnect()


def disconnect_gracefully(client: mqtt.Client, timeout: float = 2.0, *, keep_will: bool = False) -> None:
    """Let queued publishes leave (best effort if the broker is away), then disconnect."""
    deadline = time.monotonic() + timeout
    while client.want_write() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    disconnect(client, keep_will=keep_will)
    client.loop_stop()


def connect_async(client: mqtt.Client, settings: BrokerSettings, will_delay: int = 0) -> None:
    """Start connecting in the background; paho's loop reconnects forever with backoff.

    ``will_delay``: as given to make_client; the session outlives the connection that long, or
    the broker would publish the will when the session ends, at once.
    """
    properties = None
    if will_delay:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = will_delay
    client.connect_async(settings.host, settings.port, keepalive=KEEPALIVE, properties=properties)
    client.loop_start()
