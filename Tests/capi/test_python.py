"""The ctypes binding (examples/python/camkit.py) against the fixtures and the CLI.

Run from the repository root: python3 Tests/capi/test_python.py
(CAMKIT_LIB names the library to load; CAMKIT_CLI the camkit binary to compare with.)
"""
import json
import os
import struct
import subprocess
import sys
from array import array

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python"))
import camkit  # noqa: E402

FIXTURES = os.path.join("..", "shared", "fixtures")
passed = failed = 0


def check(condition, what):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}")


def read_npy_f32(path):
    """(shape, array('f')) of a NumPy v1 little-endian float32 C-order file."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    (length,) = struct.unpack("<H", data[8:10])
    header = data[10:10 + length].decode("latin1")
    assert "'<f4'" in header and "False" in header, header
    shape = tuple(int(d) for d in header.split("(")[1].split(")")[0].split(",") if d.strip())
    values = array("f")
    values.frombytes(data[10 + length:])
    return shape, values


def fixture_boxes(model, image_id):
    """(manifest entry, Grad-CAM (class, box) per rank) the peers computed for a fixture pair."""
    root = os.path.join(FIXTURES, "models", model)
    manifest = json.load(open(os.path.join(root, "manifest.json")))
    entry = next(i for i in manifest["images"] if i["id"] == image_id)
    boxes = json.load(open(os.path.join(root, entry["dir"], "boxes.json")))
    per_class = boxes["gradcam"]["per_class"]
    return entry, [(p["class"], p["box"]) for p in sorted(per_class, key=lambda p: p["rank"])]


def test_tensor_against_fixtures():
    for model_name, image_id in [("tiny_resnet", "coffee_baseline"), ("tiny_vgg_gap", "chelsea_progressive"),
                                 ("tiny_mobilenet", "chelsea_rgb16")]:
        entry, expected = fixture_boxes(model_name, image_id)
        shape, x = read_npy_f32(os.path.join(FIXTURES, entry["input"]))
        with camkit.Model(os.path.join(FIXTURES, "models", model_name, "model.onnx")) as model:
            check(model.input_size == (shape[3], shape[2]), f"{model_name}: input size {model.input_size}")
            check(model.class_count == 10, f"{model_name}: class count {model.class_count}")
            boxes = model.localize_tensor(x, shape[2], shape[3], method="gradcam", top_k=5)
        got = [(b.class_index, b.box) for b in boxes]
        check(got == expected, f"{model_name}/{image_id}: boxes {got} != fixtures {expected}")
        check([b.rank for b in boxes] == [1, 2, 3, 4, 5], f"{model_name}: ranks")
        top5 = entry["top5_logits"]
        check(all(abs(b.logit - l) <= 1e-4 * max(1, abs(l)) for b, l in zip(boxes, top5)),
              f"{model_name}: logits {[b.logit for b in boxes]} != {top5}")


def test_image_against_cli():
    cli = os.environ.get("CAMKIT_CLI", os.path.join("build", "bin", "camkit"))
    model_path = os.path.join(FIXTURES, "models", "tiny_resnet", "model.onnx")
    for image in ["coffee_baseline.jpg", "chelsea_rgba.png", "rocket_gray.png"]:
        path = os.path.join(FIXTURES, "images", image)
        out = subprocess.run([cli, "localize", model_path, path, "--top-k", "3", "--json"], check=True,
                             capture_output=True, text=True).stdout
        reference = json.loads(out.splitlines()[0])
        result = camkit.Model(model_path).localize(path, top_k=3, maps=True)
        got = [(b.class_index, b.box) for b in result.boxes]
        want = [(p["class"], p["box"]) for p in reference["predictions"]]
        check(got == want, f"{image}: binding {got} != camkit localize {want}")
        check((result.width, result.height) == (reference["width"], reference["height"]),
              f"{image}: map size {(result.width, result.height)}")
        check(all(len(m) == result.width * result.height and 0 <= min(m) and max(m) <= 1.0 for m in result.maps),
              f"{image}: maps are width x height values in [0, 1]")


def test_errors():
    try:
        camkit.Model("no/such/model.onnx")
        check(False, "a missing model raises")
    except camkit.CamError as e:
        check(e.status == 2 and "no/such/model.onnx" in str(e), f"missing model: {e.status} {e}")
    model = camkit.Model(os.path.join(FIXTURES, "models", "tiny_resnet", "model.onnx"))
    try:
        model.localize(os.path.join(FIXTURES, "images", "coffee_baseline.jpg"), class_index=10)
        check(False, "class 10 of 10 raises")
    except camkit.CamError as e:
        check(e.status == 1 and "class" in str(e), f"class out of range: {e.status} {e}")
    try:
        model.localize((2, 2, 3, bytes(12)), method="nope")
        check(False, "unknown method raises")
    except ValueError:
        check(True, "")
    # Raw gray pixels are accepted and give one box inside the 2x2 image.
    boxes = model.localize((2, 2, 1, bytes([128] * 4)), top_k=1)
    check(len(boxes) == 1 and 0 <= boxes[0].x_min <= boxes[0].x_max <= 1 and 0 <= boxes[0].y_min <= boxes[0].y_max <= 1,
          f"gray 2x2: {boxes}")


def test_limits():
    # Each field set alone: a wrong offset in _ModelOptions would set another limit, or none.
    path = os.path.join(FIXTURES, "models", "tiny_resnet", "model.onnx")
    for field, value in [("max_nodes", 5), ("max_model_bytes", 1000), ("max_tensor_elements", 1000)]:
        try:
            camkit.Model(path, **{field: value})
            check(False, f"{field}={value} raises")
        except camkit.CamError as e:
            check(e.status == 5 and field in str(e), f"{field}: {e.status} {e}")
    model = camkit.Model(path, max_image_pixels=4)
    check(len(model.localize((2, 2, 3, bytes(12)), top_k=1)) == 1, "a 2x2 image at max_image_pixels 4")
    try:
        model.localize((3, 2, 3, bytes(18)))
        check(False, "a 3x2 image over max_image_pixels 4 raises")
    except camkit.CamError as e:
        check(e.status == 5 and "max_image_pixels" in str(e), f"max_image_pixels: {e.status} {e}")


test_tensor_against_fixtures()
test_image_against_cli()
test_errors()
test_limits()
check(camkit.version().count(".") == 2, "version string")
print(f"test_python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
