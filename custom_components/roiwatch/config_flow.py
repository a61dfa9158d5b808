"""Config flow for RoiWatch: cameras, their options, and their regions (config subentries).

Adding a camera by hand (what a script driving the flows through HA's REST API follows):

1. step ``user``: ``name``, ``camera_id`` (optional: derived from the name) and ``kind``, one of
   ``smart``, ``dumb`` or ``ha`` (a camera of Home Assistant). Smart and dumb cameras are
   created here.
2. kind ``ha`` only: step ``ha_source`` with ``source_entity_id``, the ``camera.*`` entity whose
   pictures RoiWatch analyses; errors ``source_not_found`` and ``source_is_roiwatch``.

Reconfiguring a camera of Home Assistant changes its ``name`` and ``source_entity_id`` (its kind
stays); other cameras change ``name`` and ``kind`` (smart or dumb).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.components import mqtt
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from homeassistant.util import slugify

from .const import (
    BASE_TOPIC,
    CONF_CAMERA_ID,
    CONF_DETECT,
    CONF_FPS,
    CONF_KIND,
    CONF_OFF_DELAY,
    CONF_POINTS,
    CONF_SENSITIVITY,
    CONF_SOURCE,
    DEFAULT_HA_FPS,
    DOMAIN,
    ENTRY_KINDS,
    KIND_HA,
    SUBENTRY_ROI,
)
from .protocol import (
    CAMERA_ID_RE,
    DETECT_KINDS,
    DETECT_PERSON,
    FPS,
    KIND_SMART,
    KINDS,
    LEAF_ANNOUNCE,
    MAX_ROIS,
    OFF_DELAY,
    SENSITIVITY,
    Announce,
    FieldRule,
    ProtocolError,
    Topics,
    parse_announce,
    points_from_text,
    points_to_text,
)
from .regions import check_region, checked, region_limit_reached


def number_selector(rule: FieldRule, mode: NumberSelectorMode, unit: str | None = None) -> NumberSelector:
    """A number field that takes what the protocol's rule for it takes ("any": fractions too)."""
    config = NumberSelectorConfig(
        min=rule.min, max=rule.max, step="any" if rule.step is None else rule.step, mode=mode
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


KIND_SELECTOR = SelectSelector(
    SelectSelectorConfig(options=list(KINDS), translation_key=CONF_KIND, mode=SelectSelectorMode.LIST)
)
SOURCE_SELECTOR = EntitySelector(EntitySelectorConfig(domain="camera"))

CAMERA_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_NAME): TextSelector(),
        vol.Optional(CONF_CAMERA_ID): TextSelector(),
        vol.Required(CONF_KIND, default=KIND_SMART): SelectSelector(
            SelectSelectorConfig(
                options=list(ENTRY_KINDS), translation_key=CONF_KIND, mode=SelectSelectorMode.LIST
            )
        ),
    }
)
SOURCE_SCHEMA = vol.Schema({vol.Required(CONF_SOURCE): SOURCE_SELECTOR})
RECONFIGURE_SCHEMA = vol.Schema(
    {vol.Required(CONF_NAME): TextSelector(), vol.Required(CONF_KIND): KIND_SELECTOR}
)
RECONFIGURE_HA_SCHEMA = vol.Schema(
    {vol.Required(CONF_NAME): TextSelector(), vol.Required(CONF_SOURCE): SOURCE_SELECTOR}
)
DISCOVERY_SCHEMA = vol.Schema({vol.Required(CONF_NAME): TextSelector()})
OPTIONS_SCHEMA = vol.Schema(
    {vol.Required(CONF_FPS, default=FPS.default): number_selector(FPS, NumberSelectorMode.BOX, "fps")}
)
ROI_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_NAME): TextSelector(),
        vol.Required(CONF_DETECT, default=DETECT_PERSON): SelectSelector(
            SelectSelectorConfig(
                options=list(DETECT_KINDS),
                translation_key=CONF_DETECT,
                mode=SelectSelectorMode.LIST,
            )
        ),
        vol.Required(CONF_POINTS): TextSelector(),
        vol.Required(CONF_SENSITIVITY, default=SENSITIVITY.default): number_selector(
            SENSITIVITY, NumberSelectorMode.SLIDER
        ),
        vol.Required(CONF_OFF_DELAY, default=OFF_DELAY.default): number_selector(
            OFF_DELAY, NumberSelectorMode.BOX, "s"
        ),
    }
)


def suggest_camera_id(name: str) -> str:
    """A camera id derived from a display name, e.g. ``Front Porch`` -> ``front_porch``."""
    if not any(c.isalnum() for c in name):
        return ""  # slugify would say "unknown"; let the user type an id instead
    return slugify(name)[:64].strip("_-")


def _suggest_name(camera_id: str) -> str:
    return camera_id.replace("_", " ").replace("-", " ").strip().capitalize()


class RoiWatchConfigFlow(ConfigFlow, domain=DOMAIN):
    """One config entry per camera, added by hand or from an agent's announce message."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Initialise the flow."""
        self._announce: Announce | None = None  # what a discovered camera announced
        self._camera: tuple[str, str] = ("", "")  # name and id, while the source is chosen

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> RoiWatchOptionsFlow:
        """Options: the detection frame rate."""
        return RoiWatchOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Regions of interest are subentries of their camera."""
        return {SUBENTRY_ROI: RoiSubentryFlow}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Add a camera by hand."""
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            return self.async_abort(reason="mqtt_not_configured")
        errors: dict[str, str] = {}
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            camera_id = (user_input.get(CONF_CAMERA_ID) or "").strip() or suggest_camera_id(name)
            if not name:
                errors[CONF_NAME] = "name_required"
            elif not CAMERA_ID_RE.match(camera_id):
                errors[CONF_CAMERA_ID] = "invalid_camera_id"
            else:
                await self.async_set_unique_id(camera_id)
                self._abort_if_unique_id_configured()
                if user_input[CONF_KIND] == KIND_HA:
                    self._camera = (name, camera_id)
                    return await self.async_step_ha_source()
                return self._create_camera(name, camera_id, user_input[CONF_KIND])
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(CAMERA_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_ha_source(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A camera of Home Assistant: which camera entity it takes its pictures from."""
        errors: dict[str, str] = {}
        if user_input is not None:
            source: str = user_input[CONF_SOURCE]
            if (error := _source_error(self.hass, source)) is not None:
                errors[CONF_SOURCE] = error
            else:
                name, camera_id = self._camera
                return self._create_camera(name, camera_id, KIND_HA, source)
        return self.async_show_form(
            step_id="ha_source",
            data_schema=self.add_suggested_values_to_schema(SOURCE_SCHEMA, user_input),
            description_placeholders={"name": self._camera[0]},
            errors=errors,
        )

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """Offer a camera whose agent announced itself on ``<base>/<camera>/announce``."""
        parsed = Topics(BASE_TOPIC).parse(discovery_info.topic)
        if parsed is None or parsed[1] != LEAF_ANNOUNCE:
            return self.async_abort(reason="invalid_discovery_info")
        try:
            payload = discovery_info.payload
            announce = parse_announce(
                bytes(payload) if isinstance(payload, bytearray) else payload,
                expected_camera_id=parsed[0],
            )
        except ProtocolError:
            return self.async_abort(reason="invalid_discovery_info")
        await self.async_set_unique_id(announce.camera_id)
        self._abort_if_unique_id_configured()
        self._announce = announce
        self.context["title_placeholders"] = {"name": announce.camera_id}
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Let the user name the discovered camera and confirm it."""
        announce = self._announce
        assert announce is not None  # the step follows async_step_mqtt
        camera_id = announce.camera_id
        errors: dict[str, str] = {}
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            if name:
                return self._create_camera(name, camera_id, announce.kind)
            errors[CONF_NAME] = "name_required"
        return self.async_show_form(
            step_id="discovery_confirm",
            data_schema=self.add_suggested_values_to_schema(
                DISCOVERY_SCHEMA, user_input or {CONF_NAME: _suggest_name(camera_id)}
            ),
            description_placeholders={
                "camera_id": camera_id,
                "kind": announce.kind,
                "version": announce.version or "?",
            },
            errors=errors,
        )

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Rename the camera or change its kind; its id is fixed."""
        entry = self._get_reconfigure_entry()
        # A camera of Home Assistant keeps its kind and may take another source; others change kind.
        field, schema = (
            (CONF_SOURCE, RECONFIGURE_HA_SCHEMA)
            if entry.data[CONF_KIND] == KIND_HA
            else (CONF_KIND, RECONFIGURE_SCHEMA)
        )
        errors: dict[str, str] = {}
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            if not name:
                errors[CONF_NAME] = "name_required"
            if field == CONF_SOURCE and (error := _source_error(self.hass, user_input[field])):
                errors[field] = error
            if not errors:
                # The entry's update listener republishes or reloads: no reload here.
                self.hass.config_entries.async_update_entry(
                    entry, title=name, data={**entry.data, field: user_input[field]}
                )
                return self.async_abort(reason="reconfigure_successful")
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or {CONF_NAME: entry.title, field: entry.data[field]}
            ),
            description_placeholders={"camera_id": entry.data[CONF_CAMERA_ID]},
            errors=errors,
        )

    @callback
    def _create_camera(self, name: str, camera_id: str, kind: str, source: str = "") -> ConfigFlowResult:
        data = {CONF_CAMERA_ID: camera_id, CONF_KIND: kind}
        if kind == KIND_HA:
            data[CONF_SOURCE] = source
        return self.async_create_entry(
            title=name,
            data=data,
            options={CONF_FPS: DEFAULT_HA_FPS if kind == KIND_HA else FPS.default},
        )


def _source_error(hass: HomeAssistant, entity_id: str) -> str | None:
    """Why a camera entity cannot be a camera's source, or None if it can.

    A RoiWatch camera's own picture would be analysed to detect for itself: refused.
    """
    entry = er.async_get(hass).async_get(entity_id)
    if entry is not None and entry.platform == DOMAIN:
        return "source_is_roiwatch"
    if entry is None and hass.states.get(entity_id) is None:
        return "source_not_found"
    return None


class RoiWatchOptionsFlow(OptionsFlow):
    """The detection frame rate of a camera."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and save the options."""
        if user_input is not None:
            # The selector holds the rule's range: the rule gives the number as the wire holds it.
            return self.async_create_entry(data={CONF_FPS: FPS.check(user_input[CONF_FPS])})
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(OPTIONS_SCHEMA, self.config_entry.options),
        )


class RoiSubentryFlow(ConfigSubentryFlow):
    """Add or edit one region of interest of a camera."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add a region."""
        entry = self._get_entry()
        if region_limit_reached(entry):
            return self.async_abort(reason="max_regions", description_placeholders={"max": str(MAX_ROIS)})
        errors: dict[str, str] = {}
        if user_input is not None:
            title, data = _check_form(entry, user_input, None, errors)
            if not errors:
                return self.async_create_entry(title=title, data=data)
        return self._show(
            "user",
            user_input or {CONF_SENSITIVITY: SENSITIVITY.default, CONF_OFF_DELAY: OFF_DELAY.default},
            errors,
        )

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Edit a region; its id (the subentry id) stays the same."""
        entry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        errors: dict[str, str] = {}
        if user_input is not None:
            title, data = _check_form(entry, user_input, subentry.subentry_id, errors)
            if not errors:
                return self.async_update_and_abort(entry, subentry, title=title, data=data)
        return self._show(
            "reconfigure",
            user_input
            or {
                CONF_NAME: subentry.title,
                CONF_DETECT: subentry.data[CONF_DETECT],
                CONF_POINTS: points_to_text(subentry.data[CONF_POINTS]),
                CONF_SENSITIVITY: subentry.data[CONF_SENSITIVITY],
                CONF_OFF_DELAY: subentry.data[CONF_OFF_DELAY],
            },
            errors,
        )

    @callback
    def _show(self, step_id: str, values: Mapping[str, Any], errors: dict[str, str]) -> SubentryFlowResult:
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(ROI_SCHEMA, values),
            description_placeholders={"example": "10,40 90,40 90,100 10,100"},
            errors=errors,
        )


def _check_form(
    entry: ConfigEntry, user_input: dict[str, Any], editing: str | None, errors: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """The region form: points typed in percent, the rest as the region editor sends it."""
    points = checked(errors, CONF_POINTS, points_from_text, user_input[CONF_POINTS])
    return check_region(entry, {**user_input, CONF_POINTS: points}, editing, errors)
