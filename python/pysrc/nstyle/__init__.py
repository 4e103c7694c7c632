"""nstyle: neural style transfer as distribution alignment.

Li, Wang, Liu & Hou, *Demystifying Neural Style Transfer* (2017): the style of an image is
the distribution of its VGG-19 features, and style transfer is distribution alignment. The
work is done by the Rust library (a fast CPU engine with the bundled VGG-19 weights); the
options are the ``nstyle`` command's, spelled with underscores, with the same defaults.

>>> import nstyle
>>> out = nstyle.stylize("photo.jpg", "painting.jpg", size=256, style_loss="mmd-linear")
>>> out.shape, out.dtype            # (H, W, 3), uint8
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Optional

import numpy as np

from . import _nstyle

__all__ = ["stylize", "losses", "load_image", "save_image", "OPTIONS", "LOSSES_OPTIONS"]
__version__ = "0.1.0"

#: Keyword options of :func:`stylize` (the command line's options, snake_case).
OPTIONS: tuple = tuple(_nstyle.option_names()[0])
#: Keyword options of :func:`losses`.
LOSSES_OPTIONS: tuple = tuple(_nstyle.option_names()[1])


def _image_arg(x: Any, name: str, network: bool = False):
    """A path as is; an array as (kind, bytes, height, width) for the native module."""
    if isinstance(x, (str, os.PathLike)):
        return os.fspath(x)
    if (
        name == "style"
        and isinstance(x, (list, tuple))
        and all(isinstance(e, (str, os.PathLike, np.ndarray)) for e in x)
    ):
        if len(x) == 1:
            return _image_arg(x[0], name)
        raise ValueError(
            f"several style images ({len(x)}) are not supported here: give one painting"
        )
    a = np.asarray(x)
    if network and a.ndim == 3 and a.shape[0] == 3 and a.shape[2] != 3:
        if a.dtype != np.float32:
            raise ValueError(f"{name}: a [3, H, W] image must be float32, got {a.dtype}")
        return ("net", np.ascontiguousarray(a).tobytes(), a.shape[1], a.shape[2])
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{name} must be an H x W x 3 array or a path, got shape {a.shape}")
    if a.dtype == np.uint8:
        kind = "u8"
    elif a.dtype == np.float32:
        kind = "f32"
    else:
        raise ValueError(
            f"{name} must be uint8 (0..255) or float32 (0..1), got {a.dtype}"
        )
    return (kind, np.ascontiguousarray(a).tobytes(), a.shape[0], a.shape[1])


def _style_args(x: Any) -> list:
    """One painting or a list of them, as a list of image arguments."""
    if isinstance(x, (list, tuple)) and all(
        isinstance(e, (str, os.PathLike, np.ndarray)) for e in x
    ):
        if not x:
            raise ValueError("style: give at least one painting")
        return [_image_arg(e, "painting") for e in x]
    return [_image_arg(x, "style")]


def _as_text(name: str, value: Any) -> str:
    """An option's value as the command line would spell it."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number or a name, got {value}")
    if isinstance(value, (str, int, float, np.integer, np.floating)):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in value
    ):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    raise ValueError(f"{name} has an unusable value {value!r}")


def _options(options: dict) -> list:
    return [(k, _as_text(k, v)) for k, v in options.items() if v is not None]


def _array(buf: bytearray, h: int, w: int, dtype: str) -> np.ndarray:
    return np.frombuffer(buf, dtype=np.dtype(dtype)).reshape(h, w, 3)


def _check_dtype(dtype: str) -> str:
    d = np.dtype(dtype).name
    if d not in ("uint8", "float32"):
        raise ValueError(f'dtype must be "uint8" or "float32", got {dtype!r}')
    return d


def stylize(
    content: Any,
    style: Any,
    *,
    callback: Optional[Callable[[dict, Optional[np.ndarray]], Any]] = None,
    callback_every: Optional[int] = None,
    threads: Optional[int] = None,
    dtype: str = "uint8",
    **options: Any,
) -> np.ndarray:
    """Paint ``content`` in the style of ``style``; returns an H x W x 3 array.

    Args:
        content: the photo: a path, or an H x W x 3 array (uint8, or float32 in [0, 1]);
            ``None`` for style reconstruction (texture synthesis from noise).
        style: the painting, the same way, or a list of paintings: their styles blend
            (the target is the weighted mixture of their feature distributions), with
            weights ``style_blend`` (e.g. ``[0.7, 0.3]``; default equal). Without
            content, the result takes the first painting's shape.
        callback: called as ``callback(event, image)`` for every event of the run
            (``event`` is a dict, the ``--log`` schema of docs/EVENTS.md: ``planned``,
            ``stage_started``, ``iteration``, ``snapshot``, ``stage_finished``, then
            ``finished`` or ``stopped``); ``image`` is the current image (like the result)
            with every ``snapshot`` event and ``None`` otherwise. Returning ``False`` stops
            the run (the image reached so far is returned); an exception stops it and is
            raised once it has stopped.
        callback_every: send a ``snapshot`` event with the image every N iterations.
        threads: worker threads (default: one per core; one in a forked child).
        dtype: ``"uint8"`` (as an 8-bit PNG would hold it) or ``"float32"`` in [0, 1].
        **options: the ``nstyle`` command's options with underscores, same defaults:
            size (512), style_loss ("gram"), style_weight (25), content_weight (1),
            tv_weight (1), iterations (500), tol (0: off), min_progress (0.02), seed (0),
            optimizer ("lbfgs"),
            lr (5), history (20), init ("noise", "content", a path or an array),
            pooling ("avg"), conv ("winograd"), style_size (size), style_scale (style
            images' long edge as a multiple of size; not with style_size), style_blend
            (one weight per painting, a list or "0.7,0.3"), preserve_colors ("none",
            "luminance" or "match"), multiscale ("auto"),
            start_size (256), stage_iterations (100), style_layers
            ("relu1_1:64,relu2_1:16,relu3_1:4,relu4_1:1,relu5_1:1"; also a list), content_layer
            ("relu4_2"), beta_prime (automatic; "METHOD:V,..." or a dict),
            poly_c (0), gaussian_sigma2_scale (1), swd_projections (channels),
            max_memory (available), weights (bundled; also $NSTYLE_WEIGHTS).

    The GIL is released while the job runs; Ctrl-C (KeyboardInterrupt) stops it after
    the current step and is raised. Bad options or inputs raise ValueError with the
    command line's one-line message (``style_weight must be ...``), unknown keywords
    TypeError, missing files FileNotFoundError.
    """
    dtype = _check_dtype(dtype)
    init = options.get("init")
    init_image = None
    if init is not None and not isinstance(init, (str, os.PathLike)):
        init_image = _image_arg(init, "init")
        del options["init"]
    native_cb = None
    if callback is not None:

        def native_cb(event_json, buf, h, w):
            image = None if buf is None else _array(buf, h, w, dtype)
            return callback(json.loads(event_json), image)

    buf, h, w = _nstyle.stylize(
        None if content is None else _image_arg(content, "content"),
        _style_args(style),
        _options(options),
        init_image,
        native_cb,
        callback_every,
        threads,
        dtype == "float32",
    )
    return _array(buf, h, w, dtype)


def losses(
    content: Any, style: Any, image: Any, *, gradient: bool = False, **options: Any
) -> dict:
    """Raw per-layer loss values of ``image``, as ``nstyle losses`` prints them.

    Returns ``{"content": {"relu4_2": v}, "style": {"gram": {"relu1_1": v, ...}, ...}}``
    (no weights, no beta'; every registered method unless ``style_loss`` names some).
    With ``gradient=True`` the dict also has ``"gradient"``: d(total)/d(image) as a
    float32 array [3, H, W] in the network's input space (RGB 0..255 minus the ImageNet
    means), total = content + every raw style value.

    Args:
        content: a path or H x W x 3 array, or ``None`` (no content term).
        style: a path or H x W x 3 array (resized to the image's size).
        image: a path (an image file, or a float32 ``.npy`` [3, H, W] in network space),
            an H x W x 3 array, or a float32 [3, H, W] array in network space.
        **options: size (the image's own, which must then be the content's),
            style_loss (names only), style_layers, content_layer, gaussian_sigma2,
            swd_directions, poly_c, swd_projections, seed, pooling, conv ("im2col" here,
            so reference numbers carry no Winograd rounding), weights.
    """
    text, grad, h, w = _nstyle.losses(
        None if content is None else _image_arg(content, "content"),
        _image_arg(style, "style"),
        _image_arg(image, "image", network=True),
        _options(options),
        bool(gradient),
    )
    out = json.loads(text)
    if grad is not None:
        out["gradient"] = np.frombuffer(grad, dtype=np.float32).reshape(3, h, w)
    return out


def load_image(path: "str | os.PathLike", dtype: str = "float32") -> np.ndarray:
    """Decode an image file exactly as the command line does (EXIF orientation applied,
    grayscale and alpha converted to RGB): H x W x 3, float32 in [0, 1] or uint8."""
    dtype = _check_dtype(dtype)
    buf, h, w, _notes = _nstyle.load_image(os.fspath(path), dtype == "float32")
    return _array(buf, h, w, dtype)


def save_image(path: "str | os.PathLike", image: Any, sixteen_bit: bool = False) -> None:
    """Write an H x W x 3 array (uint8, or float32 in [0, 1]) as PNG, JPEG or TIFF (by
    extension), atomically."""
    _nstyle.save_image(os.fspath(path), _image_arg(image, "image"), bool(sixteen_bit))
