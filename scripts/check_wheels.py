"""Every dependency of each agent role installs from a wheel on each platform we promise.

Run through ``scripts/check-wheels`` (part of scripts/test). No emulation: for each role and
platform, ``pip download --only-binary=:all: --platform ... --python-version 3.11`` must resolve
the role's dependencies, read from pyproject.toml, and the build backend's (``pip install .``
builds the agent itself), to wheels: binary wheels for that platform or pure-Python ones. Downloads
are kept in .cache/wheels/, so a second run only asks the index.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache/wheels"
PYTHON = "3.11"  # Raspberry Pi OS Bookworm's python3


def manylinux(arch: str) -> list[str]:
    """glibc 2.17 (manylinux2014) up to 2.36 (Debian / Raspberry Pi OS Bookworm)."""
    return [f"manylinux_2_{minor}_{arch}" for minor in range(36, 16, -1)] + [f"manylinux2014_{arch}"]


# name shown -> pip platform tags that machine accepts
PLATFORMS = {
    "aarch64 (Pi 4/5, 64-bit)": manylinux("aarch64"),
    "x86_64": manylinux("x86_64"),
    "armv7l (Pi Zero 2/3, 32-bit)": ["linux_armv7l"],
    "armv6l (Pi Zero W)": ["linux_armv6l"],
}
DETECTION_PLATFORMS = ["aarch64 (Pi 4/5, 64-bit)", "x86_64"]


def roles() -> list[tuple[str, list[str], list[str]]]:
    """(role, requirements, platforms) from pyproject.toml."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    core = meta["project"]["dependencies"]
    build = meta["build-system"]["requires"]
    detect = meta["project"]["optional-dependencies"]["detect"]
    return [
        ("dumb (--source -)", core + build, list(PLATFORMS)),
        ("smart, analyzer", core + detect + build, DETECTION_PLATFORMS),
    ]


def download(requirements: list[str], platform: str) -> tuple[bool, str]:
    """(ok, the wheels it took or pip's complaint)."""
    dest = CACHE / re.sub(r"\W+", "-", platform).strip("-")
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:",
           "--python-version", PYTHON, "--implementation", "cp", "--abi", f"cp{PYTHON.replace('.', '')}",
           "-d", str(dest)]
    for tag in PLATFORMS[platform]:
        cmd += ["--platform", tag]
    proc = subprocess.run([*cmd, *requirements], capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if "ERROR" in line]
        return False, (errors or ["pip download failed"])[0].replace("ERROR: ", "")
    wheels = re.findall(r"(?:Saved|File was already downloaded) .*/([^/\s]+\.whl)", proc.stdout)
    # name version, and a * for a binary wheel (the others are pure Python)
    taken = sorted(" ".join(w.split("-")[:2]) + ("" if w.endswith("-none-any.whl") else "*") for w in wheels)
    return True, ", ".join(taken)


def main() -> int:
    jobs = [(role, platform, reqs) for role, reqs, platforms in roles() for platform in platforms]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda job: download(job[2], job[1]), jobs))
    print(f"CPython {PYTHON} wheels per role and platform (pip download --only-binary=:all:; * binary):")
    print(f"{'role':<18} {'platform':<29} result")
    for (role, platform, _reqs), (ok, what) in zip(jobs, results, strict=True):
        print(f"{role:<18} {platform:<29} {'ok' if ok else 'FAILED'}: {what}")
    failed = sum(not ok for ok, _ in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
