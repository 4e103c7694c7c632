"""Type stubs of nstyle (neural style transfer as distribution alignment)."""

import os
from typing import Any, Callable, Literal, Mapping, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str
OPTIONS: tuple[str, ...]
LOSSES_OPTIONS: tuple[str, ...]

PathLike = Union[str, os.PathLike[str]]
#: A path, or an H x W x 3 array: uint8 0..255, or float32 in [0, 1].
ImageLike = Union[PathLike, npt.NDArray[np.uint8], npt.NDArray[np.float32]]
#: Called with each event (a dict, docs/EVENTS.md) and, with snapshot events, the image.
Callback = Callable[[dict[str, Any], Optional[np.ndarray]], Optional[bool]]

def stylize(
    content: Optional[ImageLike],
    style: Union[ImageLike, Sequence[ImageLike]],
    *,
    callback: Optional[Callback] = ...,
    callback_every: Optional[int] = ...,
    threads: Optional[int] = ...,
    dtype: Literal["uint8", "float32"] = ...,
    size: int = ...,
    style_loss: str = ...,
    style_weight: float = ...,
    content_weight: float = ...,
    tv_weight: float = ...,
    iterations: int = ...,
    tol: float = ...,
    seed: int = ...,
    optimizer: Literal["lbfgs", "adam"] = ...,
    lr: float = ...,
    history: Optional[int] = ...,
    init: Union[Literal["noise", "content"], ImageLike] = ...,
    pooling: Literal["avg", "max"] = ...,
    conv: Optional[Literal["winograd", "im2col", "winograd-bf16"]] = ...,
    style_size: Optional[int] = ...,
    style_scale: Optional[float] = ...,
    style_blend: Optional[Union[str, Sequence[float]]] = ...,
    preserve_colors: Literal["none", "luminance", "match"] = ...,
    multiscale: Literal["auto", "on", "off"] = ...,
    start_size: int = ...,
    stage_iterations: int = ...,
    style_layers: Union[str, Sequence[str]] = ...,
    content_layer: str = ...,
    beta_prime: Optional[Union[str, Mapping[str, float]]] = ...,
    poly_c: float = ...,
    gaussian_sigma2_scale: float = ...,
    swd_projections: Optional[int] = ...,
    max_memory: Optional[float] = ...,
    weights: Optional[PathLike] = ...,
) -> np.ndarray: ...

def losses(
    content: Optional[ImageLike],
    style: ImageLike,
    image: Union[ImageLike, npt.NDArray[np.float32]],
    *,
    gradient: bool = ...,
    size: Optional[int] = ...,
    style_loss: Optional[str] = ...,
    style_layers: Union[str, Sequence[str]] = ...,
    content_layer: str = ...,
    gaussian_sigma2: Optional[float] = ...,
    swd_directions: Optional[PathLike] = ...,
    poly_c: float = ...,
    swd_projections: Optional[int] = ...,
    seed: int = ...,
    pooling: Literal["avg", "max"] = ...,
    conv: Optional[Literal["winograd", "im2col", "winograd-bf16"]] = ...,
    weights: Optional[PathLike] = ...,
) -> dict[str, Any]: ...

def load_image(path: PathLike, dtype: Literal["uint8", "float32"] = ...) -> np.ndarray: ...

def save_image(path: PathLike, image: ImageLike, sixteen_bit: bool = ...) -> None: ...
