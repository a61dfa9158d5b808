"""What the agent keeps on disk: the last good config (a reboot with the broker down still detects)
and the regions left ON (carried over by the next run)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from .. import protocol

_LOGGER = logging.getLogger(__name__)


class ConfigStore:
    """One JSON file per camera under ``state_dir``; writes are atomic."""

    def __init__(self, state_dir: str | Path | None) -> None:
        self.dir = Path(state_dir) if state_dir else None

    def _path(self, camera_id: str) -> Path | None:
        return self.dir / f"{camera_id}.config.json" if self.dir else None

    def load(self, camera_id: str) -> protocol.CameraConfig | None:
        path = self._path(camera_id)
        if path is None or not path.exists():
            return None
        try:
            return protocol.parse_config(path.read_bytes(), expected_camera_id=camera_id)
        except (OSError, protocol.ProtocolError) as err:
            _LOGGER.error("Ignoring cached config %s: %s", path, err)
            return None

    def save(self, config: protocol.CameraConfig) -> None:
        path = self._path(config.camera_id)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(protocol.build_config(config))
            os.replace(tmp, path)
        except OSError as err:
            _LOGGER.error("Could not cache config in %s: %s", path, err)

    def delete(self, camera_id: str) -> None:
        path = self._path(camera_id)
        if path is not None:
            path.unlink(missing_ok=True)
            (path.parent / f"{camera_id}.regions_on.json").unlink(missing_ok=True)

    def load_armed(self, camera_id: str) -> bool:
        """The last armed state seen; armed when never told otherwise (as on the wire)."""
        if self.dir is None:
            return True
        try:
            return (self.dir / f"{camera_id}.armed").read_text().strip() != protocol.OFF
        except OSError:
            return True

    def save_armed(self, camera_id: str, armed: bool) -> None:
        if self.dir is None:
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / f"{camera_id}.armed").write_text(protocol.on_off(armed))
        except OSError as err:
            _LOGGER.error("Could not cache armed state in %s: %s", self.dir, err)

    def load_regions_on(self, camera_id: str) -> list[str]:
        """The regions the last run left ON (carried over by the next run; see Supervisor.carry)."""
        if self.dir is None:
            return []
        try:
            ids = json.loads((self.dir / f"{camera_id}.regions_on.json").read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(ids, list):
            return []
        return [i for i in ids if isinstance(i, str) and protocol.ROI_ID_RE.match(i)]

    def save_regions_on(self, camera_id: str, ids: list[str]) -> None:
        """Written only when the set changes (a region turning ON or OFF), so an SD card is spared."""
        if self.dir is None:
            return
        path = self.dir / f"{camera_id}.regions_on.json"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-")
            with os.fdopen(fd, "w") as f:
                json.dump(sorted(ids), f)
            os.replace(tmp, path)
        except OSError as err:
            _LOGGER.error("Could not keep the region states in %s: %s", path, err)

    def cached_ids(self) -> list[str]:
        if self.dir is None or not self.dir.is_dir():
            return []
        return sorted(p.name.removesuffix(".config.json") for p in self.dir.glob("*.config.json"))
