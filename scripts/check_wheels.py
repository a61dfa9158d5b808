"""Every dependency of each agent role installs from a wheel on each platform we promise.

Run through ``scripts/check-wheels`` (part of scripts/test). No emulation: for each Raspberry Pi
OS release (Bookworm: CPython 3.11, glibc 2.36; Trixie: CPython 3.13, glibc 2.41), role and
platform, ``pip download --only-binary=:all: --platform ... --python-version X.Y`` must resolve
the role's dependencies, read from pyproject.toml, and the build backend's (``pip install .``
builds the agent itself), to wheels: binary wheels for that platform or pure-Python ones. Downloads
are kept in .cache/wheels/, so a second run only asks the index.

pip evaluates environment markers for the machine it runs on, not for ``--platform``: so each
requirement's marker is evaluated here for the target (``platform_machine``, Python version), and
only the requirements that apply are asked for. onnxruntime (the person model's fast runtime) must
be among the wheels on aarch64 and x86_64, and left out by its marker on 32-bit ARM, whose Pis run
the model on OpenCV dnn (OpenCV and numpy come from piwheels there, which this does not check).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache/wheels"
# Raspberry Pi OS release -> (its python3, its glibc minor version)
RELEASES = {"Bookworm": ("3.11", 36), "Trixie": ("3.13", 41)}


def manylinux(arch: str, glibc: int) -> list[str]:
    """glibc 2.17 (manylinux2014) up to the release's own."""
    return [f"manylinux_2_{minor}_{arch}" for minor in range(glibc, 16, -1)] + [f"manylinux2014_{arch}"]


def platforms(glibc: int) -> dict[str, list[str]]:
    """name shown -> pip platform tags that machine accepts."""
    return {
        "aarch64 (Pi 4/5, 64-bit)": manylinux("aarch64", glibc),
        "x86_64": manylinux("x86_64", glibc),
        "armv7l (Pi Zero 2/3, 32-bit)": ["linux_armv7l"],
        "armv6l (Pi Zero W)": ["linux_armv6l"],
    }


DETECTION_PLATFORMS = ["aarch64 (Pi 4/5, 64-bit)", "x86_64"]
MACHINES = {
    "aarch64 (Pi 4/5, 64-bit)": "aarch64",
    "x86_64": "x86_64",
    "armv7l (Pi Zero 2/3, 32-bit)": "armv7l",
    "armv6l (Pi Zero W)": "armv6l",
}
# The person model's runtime: present where it has wheels, absent elsewhere (OpenCV dnn instead).
ONNX_RUNTIME = "onnxruntime"


def for_target(requirements: list[str], platform: str, python: str) -> list[str]:
    """The requirements whose markers hold on that platform and Python, without their markers."""
    env = {
        "platform_machine": MACHINES[platform],
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    out = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(str(req))
    return out


def roles() -> list[tuple[str, list[str], list[str]]]:
    """(role, requirements, platforms) from pyproject.toml."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    core = meta["project"]["dependencies"]
    build = meta["build-system"]["requires"]
    detect = meta["project"]["optional-dependencies"]["detect"]
    return [
        ("dumb (--source -/rpicam)", core + build, list(platforms(0))),
        ("smart, analyzer", core + detect + build, DETECTION_PLATFORMS),
    ]


def download(requirements: list[str], release: str, platform: str) -> tuple[bool, str]:
    """(ok, the wheels it took or pip's complaint)."""
    python, glibc = RELEASES[release]
    dest = CACHE / re.sub(r"\W+", "-", f"{python} {platform}").strip("-")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--abi",
        f"cp{python.replace('.', '')}",
        "-d",
        str(dest),
    ]
    for tag in platforms(glibc)[platform]:
        cmd += ["--platform", tag]
    proc = subprocess.run([*cmd, *for_target(requirements, platform, python)], capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if "ERROR" in line]
        return False, (errors or ["pip download failed"])[0].replace("ERROR: ", "")
    wheels = re.findall(r"(?:Saved|File was already downloaded) .*/([^/\s]+\.whl)", proc.stdout)
    # name version, and a * for a binary wheel (the others are pure Python)
    taken = sorted(" ".join(w.split("-")[:2]) + ("" if w.endswith("-none-any.whl") else "*") for w in wheels)
    return True, ", ".join(taken)


def onnx_runtime_check(release: str, platform: str, detect: list[str], wheels: str) -> str | None:
    """What is wrong with onnxruntime for a detecting role on that platform, or None."""
    wanted = platform in DETECTION_PLATFORMS
    named = any(
        Requirement(r).name == ONNX_RUNTIME for r in for_target(detect, platform, RELEASES[release][0])
    )
    if named != wanted:
        return (
            f"{ONNX_RUNTIME} {'missing from' if wanted else 'not left out of'} the detect extra by its marker"
        )
    if wanted and not re.search(rf"(^|, ){ONNX_RUNTIME} ", wheels):
        return f"{ONNX_RUNTIME} is not among the wheels"
    return None


def main() -> int:
    jobs = [
        (release, role, platform, reqs)
        for release in RELEASES
        for role, reqs, where in roles()
        for platform in where
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda job: download(job[3], job[0], job[2]), jobs))
    detect = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "detect"
    ]
    for i, ((release, role, platform, _reqs), (ok, what)) in enumerate(zip(jobs, results, strict=True)):
        if (
            ok
            and role.startswith("smart")
            and (problem := onnx_runtime_check(release, platform, detect, what))
        ):
            results[i] = (False, problem)
    # 32-bit ARM: no detection role is downloaded (no OpenCV wheels on PyPI), but its marker must
    # keep onnxruntime out, or pip there would fail on the detect extra.
    for release in RELEASES:
        for platform in platforms(0):
            if platform not in DETECTION_PLATFORMS:
                problem = onnx_runtime_check(release, platform, detect, "")
                jobs.append((release, "detect extra (markers)", platform, []))
                results.append(
                    (problem is None, problem or f"{ONNX_RUNTIME} left out (OpenCV dnn runs the model)")
                )
    print("Wheels per Pi OS release, role and platform (pip download --only-binary=:all:; * binary):")
    print(f"{'release':<17} {'role':<24} {'platform':<29} result")
    for (release, role, platform, _reqs), (ok, what) in zip(jobs, results, strict=True):
        name = f"{release} ({RELEASES[release][0]})"
        print(f"{name:<17} {role:<24} {platform:<29} {'ok' if ok else 'FAILED'}: {what}")
    failed = sum(not ok for ok, _ in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
