"""Run mutmut on each module with the fast tests that cover it; print scores and survivors.

Each module gets its own work directory under .cache/mutate/<module>/ (a copy of the agent
package and the agent tests, with a pyproject.toml that tells mutmut what to mutate and which
tests to run), so the repository itself is never changed and each module runs only its tests.
mutmut remembers results there: a rerun tests changed code and the last survivors (--fresh:
all). Called by scripts/mutate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".cache" / "mutate"
VENV_BIN = ROOT / ".venv" / "bin"

AGENT_FLAGS = ["-p", "no:homeassistant", "-p", "no:socket", "-p", "no:cacheprovider"]
HA_FLAGS = ["-p", "no:cacheprovider"]
# Real video through the pipeline (seconds per test) and exact boxes (milliseconds).
PIPELINE_TESTS = ["tests/agent/test_roi.py", "tests/agent/test_pipeline.py"]

# module -> (file to mutate, the fast tests that decide it, pytest flags)
TARGETS: dict[str, tuple[str, list[str], list[str]]] = {
    "roi": ("roiwatch_agent/detection/roi.py", PIPELINE_TESTS, AGENT_FLAGS),
    "pipeline": ("roiwatch_agent/detection/pipeline.py", PIPELINE_TESTS, AGENT_FLAGS),
    "motion": ("roiwatch_agent/detection/motion.py", PIPELINE_TESTS, AGENT_FLAGS),
    # roiwatch_agent/protocol.py is a symlink to custom_components/roiwatch/protocol.py.
    "protocol": ("roiwatch_agent/protocol.py", ["tests/agent/test_protocol.py"], AGENT_FLAGS),
    # Home Assistant's side, with the HA test harness (pytest-homeassistant-custom-component).
    "publisher": ("custom_components/roiwatch/publisher.py", ["tests/ha/test_init.py"], HA_FLAGS),
    # The live preview: the agent's responder (real processes: slow) and HA's request/wait.
    "preview": (
        "roiwatch_agent/detection/preview.py",
        ["tests/agent/test_preview_encode.py", "tests/agent/test_preview.py"],
        AGENT_FLAGS,
    ),
    "ha_preview": ("custom_components/roiwatch/preview.py", ["tests/ha/test_camera.py"], HA_FLAGS),
    "coordinator": (
        "custom_components/roiwatch/coordinator.py",
        ["tests/ha/test_init.py", "tests/ha/test_entities.py", "tests/ha/test_issues.py"],
        HA_FLAGS,
    ),
}
DEFAULT = ["roi", "pipeline", "motion", "protocol"]

PYPROJECT = """\
[tool.mutmut]
source_paths = ["{package}"]
only_mutate = ["{file}"]
pytest_add_cli_args = {flags}
pytest_add_cli_args_test_selection = {tests}

[tool.pytest.ini_options]
timeout = 300
pythonpath = ["."]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
filterwarnings = ["ignore::pytest.PytestConfigWarning"]
"""


def prepare(name: str) -> Path:
    """A fresh copy of the package and the tests (symlinks followed), keeping mutmut's results."""
    file, tests, flags = TARGETS[name]
    package = file.split("/")[0]
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    for sub in ("roiwatch_agent", "custom_components", "tests"):
        shutil.rmtree(work / sub, ignore_errors=True)
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / package, work / package, ignore=skip)
    if package == "custom_components":  # the HA tests start a real agent too
        shutil.copytree(ROOT / "roiwatch_agent", work / "roiwatch_agent", ignore=skip)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__", "browser"))
    (work / "pyproject.toml").write_text(
        PYPROJECT.format(package=package, file=file, flags=json.dumps(flags), tests=json.dumps(tests))
    )
    return work


def mutmut(work: Path, *args: str, capture: bool = False) -> str:
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        # The tests find the video here (their copy lives outside the repository).
        "ROIWATCH_TEST_VIDEO": str(ROOT / ".cache" / "data" / "vtest.avi"),
        # One thread per worker: the jobs already use the cores.
        "OMP_NUM_THREADS": "1",
        "OPENCV_FOR_THREADS_NUM": "1",
    }
    proc = subprocess.run(
        [str(VENV_BIN / "mutmut"), *args],
        cwd=work,
        env=env,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        check=False,
    )
    if proc.returncode != 0:
        out = proc.stdout[-3000:] if capture and proc.stdout else ""
        raise SystemExit(f"[mutate] mutmut {' '.join(args)} failed in {work} (exit {proc.returncode})\n{out}")
    return proc.stdout or ""


def survivors_of(work: Path) -> list[str]:
    """The mutants that survived the last run in this work directory, if there was one."""
    names = []
    for meta in (work / "mutants").rglob("*.py.meta"):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        names += [name for name, code in codes.items() if code == 0]
    return sorted(names)


def results(work: Path) -> dict[str, str]:
    """mutant name -> status (killed, survived, timeout, no tests, ...)."""
    out = mutmut(work, "results", "--all", "true", capture=True)
    found = {}
    for line in out.splitlines():
        m = re.match(r"\s+(\S+): (.+)$", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


_DIFFS = """
import sys
from mutmut.__main__ import find_mutant, get_diff_for_mutant
for name, status in zip(sys.argv[1::2], sys.argv[2::2]):
    print(f"\\n--- {status}: {name}")
    print(get_diff_for_mutant(name, path=find_mutant(name).path).strip())
"""


def diffs(work: Path, names: list[str], status: dict[str, str]) -> str:
    """Every mutant's diff in one process (``mutmut show`` takes seconds per mutant)."""
    if not names:
        return ""
    args = [x for name in names for x in (name, status[name])]
    return subprocess.run(
        [str(VENV_BIN / "python"), "-c", _DIFFS, *args], cwd=work, text=True, capture_output=True, check=True
    ).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "modules",
        nargs="*",
        metavar="MODULE",
        choices=[[], *TARGETS],
        help=f"{', '.join(TARGETS)} (default: {' '.join(DEFAULT)})",
    )
    parser.add_argument("--fresh", action="store_true", help="forget earlier results, test every mutant")
    args = parser.parse_args()
    jobs = os.environ.get("MUTATE_JOBS", "2")
    summary = []
    for name in args.modules or DEFAULT:
        if args.fresh:
            shutil.rmtree(WORK / name, ignore_errors=True)
        work = prepare(name)
        file, tests, _ = TARGETS[name]
        print(f"[mutate] {name}: mutating {file} with {' '.join(tests)} (minutes)", flush=True)
        t0 = time.monotonic()
        before = survivors_of(work)
        mutmut(work, "run", "--max-children", jobs, capture=True)
        if before:
            # mutmut reruns a mutant when the code changes, not when the tests do: retest the
            # survivors of the last run, which new tests may kill now.
            mutmut(work, "run", "--max-children", jobs, *before, capture=True)
        status = results(work)
        caught = sum(s in ("killed", "timeout") for s in status.values())
        judged = [s for s in status.values() if s not in ("skipped", "not checked")]
        survivors = sorted(k for k, s in status.items() if s != "killed" and s != "timeout")
        score = 100.0 * caught / len(judged) if judged else 0.0
        summary.append((name, caught, len(judged), score, time.monotonic() - t0))
        print(f"[mutate] {name}: {caught}/{len(judged)} mutants caught ({score:.0f} %)")
        print(diffs(work, survivors, status), end="")
    print("\n[mutate] module     caught/total  score   time")
    for name, caught, total, score, secs in summary:
        print(f"[mutate] {name:<10} {caught:>5}/{total:<6} {score:5.0f} %  {secs:5.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
