"""camkit.py: a small ctypes binding of libcam (include/cam.h), no compiled extension.

    import camkit
    model = camkit.Model("resnet18.onnx")
    for box in model.localize("cat.jpg", method="gradcam", top_k=5):
        print(box.class_index, box.score, box.x_min, box.y_min, box.x_max, box.y_max)

libcam.so.1 is found through $CAMKIT_LIB (a path), else the dynamic loader's
search path (as installed by `make install`). Errors raise CamError with the
library's status and message. A Model may be shared between threads; ctypes
releases the GIL during each call, so localizations run in parallel.
"""
import ctypes
import ctypes.util
import os
from array import array
from dataclasses import dataclass, field

__all__ = ["Model", "Box", "Result", "CamError", "METHODS", "version"]

METHODS = {"cam": 0, "gradcam": 1, "gradcam++": 2, "gradcampp": 2, "xgradcam": 3, "hirescam": 4,
           "layercam": 5, "eigencam": 6, "scorecam": 7, "ablationcam": 8}
RESIZE = {"stretch": 0, "crop": 1}


class CamError(Exception):
    """A failed libcam call: .status is the cam_status number, str() the message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


@dataclass
class Box:
    rank: int
    class_index: int
    score: float
    logit: float
    x_min: int
    y_min: int
    x_max: int
    y_max: int

    @property
    def box(self):
        """[x_min, y_min, x_max, y_max], inclusive pixel coordinates (all -1 when empty)."""
        return [self.x_min, self.y_min, self.x_max, self.y_max]


@dataclass
class Result:
    boxes: list
    maps: list = field(default_factory=list)   # array('f') per class, row-major, width x height
    width: int = 0
    height: int = 0


# --- the C declarations, as in cam.h ------------------------------------------

class _Image(ctypes.Structure):
    _fields_ = [("pixels", ctypes.POINTER(ctypes.c_uint8)), ("width", ctypes.c_int32), ("height", ctypes.c_int32),
                ("channels", ctypes.c_int32), ("row_bytes", ctypes.c_int32)]


class _Box(ctypes.Structure):
    _fields_ = [("class_index", ctypes.c_int32), ("score", ctypes.c_float), ("logit", ctypes.c_float),
                ("x_min", ctypes.c_int32), ("y_min", ctypes.c_int32), ("x_max", ctypes.c_int32), ("y_max", ctypes.c_int32)]


class _Options(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("method", ctypes.c_int), ("top_k", ctypes.c_int32),
                ("class_index", ctypes.c_int32), ("threshold", ctypes.c_float), ("target_layer", ctypes.c_char_p)]


class _ModelOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("input_width", ctypes.c_int32), ("input_height", ctypes.c_int32),
                ("mean", ctypes.c_float * 3), ("std", ctypes.c_float * 3), ("resize", ctypes.c_int),
                ("threads", ctypes.c_int32), ("max_nodes", ctypes.c_int32), ("max_model_bytes", ctypes.c_int64),
                ("max_tensor_elements", ctypes.c_int64), ("max_image_pixels", ctypes.c_int64)]


def _load_library():
    path = os.environ.get("CAMKIT_LIB") or ctypes.util.find_library("cam") or "libcam.so.1"
    lib = ctypes.CDLL(path)
    P, I32, S = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int
    pp = ctypes.POINTER(ctypes.c_void_p)
    signatures = {
        "cam_options_init": (None, [ctypes.POINTER(_Options)]),
        "cam_model_options_init": (None, [ctypes.POINTER(_ModelOptions)]),
        "cam_model_load_with_options": (S, [ctypes.c_char_p, ctypes.POINTER(_ModelOptions), pp, pp]),
        "cam_model_free": (None, [P]),
        "cam_model_input_size": (S, [P, ctypes.POINTER(I32), ctypes.POINTER(I32)]),
        "cam_model_class_count": (I32, [P]),
        "cam_localize": (S, [P, ctypes.POINTER(_Image), ctypes.POINTER(_Options), pp, pp]),
        "cam_localize_tensor": (S, [P, ctypes.POINTER(ctypes.c_float), I32, I32, ctypes.POINTER(_Options), pp, pp]),
        "cam_image_load": (S, [ctypes.c_char_p, ctypes.POINTER(_Image), pp]),
        "cam_image_release": (None, [ctypes.POINTER(_Image)]),
        "cam_result_count": (I32, [P]),
        "cam_result_box": (S, [P, I32, ctypes.POINTER(_Box)]),
        "cam_result_map": (ctypes.POINTER(ctypes.c_float), [P, I32, ctypes.POINTER(I32), ctypes.POINTER(I32)]),
        "cam_result_free": (None, [P]),
        "cam_error_message": (ctypes.c_char_p, [P]),
        "cam_error_status": (S, [P]),
        "cam_error_free": (None, [P]),
        "cam_version_string": (ctypes.c_char_p, []),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


_lib = _load_library()


def version():
    """The library's version string, e.g. "1.0.0"."""
    return _lib.cam_version_string().decode()


def _check(status, err):
    if status != 0:
        message = _lib.cam_error_message(err).decode(errors="replace") if err else ""
        _lib.cam_error_free(err)
        raise CamError(status, message or f"libcam status {status}")


def _encode(path):
    return os.fsencode(path)


class Model:
    """An ONNX classifier loaded by libcam. Close it (or use `with`) to free it early."""

    def __init__(self, path, input_size=None, mean=None, std=None, resize="stretch", threads=0,
                 max_model_bytes=0, max_nodes=0, max_tensor_elements=0, max_image_pixels=0):
        """The max_* limits are cam_model_options' (0: the library's default)."""
        self._handle = None
        opts = _ModelOptions()
        _lib.cam_model_options_init(ctypes.byref(opts))
        if input_size is not None:
            opts.input_width, opts.input_height = input_size
        if mean is not None:
            opts.mean = (ctypes.c_float * 3)(*mean)
        if std is not None:
            opts.std = (ctypes.c_float * 3)(*std)
        opts.resize = RESIZE[resize]
        opts.threads = threads
        opts.max_model_bytes, opts.max_nodes = max_model_bytes, max_nodes
        opts.max_tensor_elements, opts.max_image_pixels = max_tensor_elements, max_image_pixels
        handle, err = ctypes.c_void_p(), ctypes.c_void_p()
        _check(_lib.cam_model_load_with_options(_encode(path), ctypes.byref(opts), ctypes.byref(handle),
                                                ctypes.byref(err)), err)
        self._handle = handle

    def close(self):
        if self._handle:
            _lib.cam_model_free(self._handle)
            self._handle = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def input_size(self):
        """(width, height) that images are resized to."""
        w, h = ctypes.c_int32(), ctypes.c_int32()
        status = _lib.cam_model_input_size(self._handle, ctypes.byref(w), ctypes.byref(h))
        if status != 0:
            raise CamError(status, "the model has no fixed input size")
        return w.value, h.value

    @property
    def class_count(self):
        return _lib.cam_model_class_count(self._handle)

    def localize(self, image, method="gradcam", top_k=5, class_index=None, threshold=0.2, target_layer=None,
                 maps=False):
        """Boxes (a list of Box, best first) for an image: a PNG/JPEG path, or a
        (width, height, channels, bytes) tuple of 8-bit pixels. With maps=True,
        a Result that also holds each class's map at the image's size."""
        img = _Image()
        loaded = False
        keep = None
        if isinstance(image, (str, bytes, os.PathLike)):
            err = ctypes.c_void_p()
            _check(_lib.cam_image_load(_encode(image), ctypes.byref(img), ctypes.byref(err)), err)
            loaded = True
        else:
            width, height, channels, pixels = image
            keep = (ctypes.c_uint8 * len(pixels)).from_buffer_copy(pixels)
            img.pixels = ctypes.cast(keep, ctypes.POINTER(ctypes.c_uint8))
            img.width, img.height, img.channels, img.row_bytes = width, height, channels, width * channels
        try:
            return self._run(lambda opts, out, err: _lib.cam_localize(self._handle, ctypes.byref(img), opts, out, err),
                             method, top_k, class_index, threshold, target_layer, maps)
        finally:
            if loaded:
                _lib.cam_image_release(ctypes.byref(img))

    def localize_tensor(self, values, height, width, method="gradcam", top_k=5, class_index=None, threshold=0.2,
                        target_layer=None, maps=False):
        """As localize, for one preprocessed input: channels x height x width floats
        (any buffer of float32, e.g. array('f') or numpy.float32 in C order)."""
        data = array("f", values) if not isinstance(values, array) else values
        buf = (ctypes.c_float * len(data)).from_buffer(data)
        return self._run(lambda opts, out, err: _lib.cam_localize_tensor(self._handle, buf, height, width, opts, out, err),
                         method, top_k, class_index, threshold, target_layer, maps)

    def _run(self, call, method, top_k, class_index, threshold, target_layer, maps):
        opts = _Options()
        _lib.cam_options_init(ctypes.byref(opts))
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
        opts.method = METHODS[method]
        opts.top_k = top_k
        opts.class_index = -1 if class_index is None else class_index
        opts.threshold = threshold
        opts.target_layer = target_layer.encode() if target_layer else None
        result, err = ctypes.c_void_p(), ctypes.c_void_p()
        _check(call(ctypes.byref(opts), ctypes.byref(result), ctypes.byref(err)), err)
        try:
            boxes, out_maps = [], []
            w, h = ctypes.c_int32(), ctypes.c_int32()
            for i in range(_lib.cam_result_count(result)):
                b = _Box()
                _lib.cam_result_box(result, i, ctypes.byref(b))
                boxes.append(Box(i + 1, b.class_index, b.score, b.logit, b.x_min, b.y_min, b.x_max, b.y_max))
                if maps:
                    p = _lib.cam_result_map(result, i, ctypes.byref(w), ctypes.byref(h))
                    out_maps.append(array("f", p[: w.value * h.value]))
            return Result(boxes, out_maps, w.value, h.value) if maps else boxes
        finally:
            _lib.cam_result_free(result)
