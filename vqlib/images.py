"""Photographs that ship inside installed wheels, with whole images held out: the named split "wheels-v1".

Sources (no download, checked offline): scikit-learn's two sample photographs (``load_sample_images``: china,
flower) and the images bundled in the scikit-image 0.26 wheel that load without the optional ``pooch`` download
(``skimage.data.<name>()``). Colour images become greyscale (ITU-R BT.601 luma), every image is scaled to [0, 1].
Training crops are cut from the training images only; evaluation tiles come from the held-out images only, so no
held-out pixel is ever a neighbour of a training pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from vqlib.checks import check_choice, check_int
from vqlib.data import greyscale

#: Named splits: training images and held-out images (whole images), by source:name.
SPLITS: dict[str, dict[str, tuple[str, ...]]] = {
    "wheels-v1": {
        "train": ("sklearn:china", "sklearn:flower", "skimage:astronaut", "skimage:camera", "skimage:coins", "skimage:brick",
                  "skimage:grass", "skimage:moon", "skimage:clock", "skimage:immunohistochemistry", "skimage:page"),
        "eval": ("skimage:coffee", "skimage:chelsea", "skimage:rocket", "skimage:gravel"),
    },
}


@lru_cache(maxsize=None)
def load(name: str) -> torch.Tensor:
    """One image by source:name as an (H, W) float32 tensor in [0, 1] (greyscale)."""
    source, _, key = name.partition(":")
    check_choice("image source", source, ["sklearn", "skimage"])
    if source == "sklearn":
        from sklearn.datasets import load_sample_image

        array = load_sample_image(f"{check_choice('sklearn image', key, ['china', 'flower'])}.jpg")
    else:
        import skimage.data

        if not hasattr(skimage.data, key):
            raise ValueError(f"skimage.data has no image {key!r}")
        array = getattr(skimage.data, key)()
    array = np.asarray(array)
    if array.ndim == 3:
        return greyscale(torch.from_numpy(array[..., :3].copy()))
    return torch.from_numpy(array.astype(np.float64) / (255.0 if array.dtype == np.uint8 else 1.0)).float()


def tiles(image: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """Every size×size tile of an (H, W) image on a grid of `stride` pixels, row by row: (n, size, size)."""
    check_int("crop", size, 1)
    check_int("stride", stride, 1)
    t = image.unfold(0, size, stride).unfold(1, size, stride)
    return t.reshape(-1, size, size)


@dataclass
class Crops:
    """Training crops (from the training images) and held-out tiles (from the held-out images) of one split."""

    split: str
    x_train: torch.Tensor  # (N_train, c, c): every tile on a grid of `stride` pixels of each training image
    x_eval: torch.Tensor  # (N_eval, c, c): the non-overlapping tiles of each held-out image
    train_images: tuple[str, ...]
    eval_images: tuple[str, ...]

    @property
    def pixels(self) -> int:
        return self.x_train.shape[-1] * self.x_train.shape[-2]


def crops(split: str = "wheels-v1", size: int = 16, stride: int = 8) -> Crops:
    """The split's training crops (overlapping, on a `stride` grid) and held-out tiles (non-overlapping)."""
    check_choice("split", split, list(SPLITS))
    check_int("crop", size, 2, 128)
    names = SPLITS[split]
    train = torch.cat([tiles(load(n), size, stride) for n in names["train"]])
    held = torch.cat([tiles(load(n), size, size) for n in names["eval"]])
    return Crops(split, train.contiguous(), held.contiguous(), names["train"], names["eval"])
