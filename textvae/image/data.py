"""Image data: idx files of (Fashion-)MNIST, .npz arrays or a folder of image files, as uint8 tensors.

Every source becomes an `ImageSplits` of uint8 tensors (N, C, H, W) with integer labels (-1 when
unknown). Pixels are turned into model inputs at batch time (`ImageBatcher`): dynamically binarized
(a fresh Bernoulli draw of each pixel at every training step; one fixed draw, seed 0, for evaluation,
so evaluation numbers are reproducible), or dequantized to [0, 1] for the Gaussian likelihood.

Layouts read (`format: auto` picks by what the path holds):
  idx     a folder with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-... (MNIST names)
  npz     one .npz with x_train, y_train, x_test, y_test (Keras layout), or a folder holding
          train.npz and test.npz, each with `images` (and optionally `labels`)
  folder  image files in one subfolder per class, either under train/ and test/ or directly (then
          `test_size` images are held out as the test split)
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import UserError

DEFAULT_PATHS = ("../shared/data/fashion-mnist", "/usr/share/datasets/fashion-mnist")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass
class ImageDataConfig:
    path: str = (
        ""  # empty: the first of DEFAULT_PATHS (../shared/data/fashion-mnist, /usr/share/datasets/...) that exists
    )
    format: str = "auto"  # auto | idx | npz | folder
    val_size: int = 5000  # images held out of the training split for validation
    test_size: int = 1000  # folder layout without train/ and test/: images held out as the test split
    binarize: str = "dynamic"  # dynamic | none
    max_train_examples: int = 0  # 0: all
    split_seed: int = 0  # seeds the choice of the validation (and folder test) images
    class_names: list[str] = field(default_factory=list)  # for the latent map's legend

    def __post_init__(self):
        if self.format not in ("auto", "idx", "npz", "folder"):
            raise ValueError(f"format must be auto, idx, npz or folder, not {self.format!r}")
        if self.binarize not in ("dynamic", "none"):
            raise ValueError(f"binarize must be dynamic or none, not {self.binarize!r}")
        for name in ("val_size", "test_size", "max_train_examples"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)}")


@dataclass
class ImageSplits:
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    class_names: list[str]

    def describe(self) -> str:
        x = self.train[0]
        return (
            f"images {x.shape[1]}x{x.shape[2]}x{x.shape[3]} (channels x height x width): "
            f"{len(self.train[0]):,} train, {len(self.val[0]):,} validation, {len(self.test[0]):,} test"
        )


def resolve_path(path: str) -> Path:
    if path:
        p = Path(path).expanduser()
        if not p.exists():
            raise UserError(f"data.path: {p} does not exist")
        return p
    for candidate in DEFAULT_PATHS:
        if Path(candidate).exists():
            return Path(candidate)
    raise UserError(
        "data.path is not set and Fashion-MNIST is in none of "
        + ", ".join(DEFAULT_PATHS)
        + " (apt-get install dataset-fashion-mnist, or give data.path=FOLDER)"
    )


def load_splits(cfg: ImageDataConfig) -> ImageSplits:
    """Read the images of `cfg.path` and split them into train, validation and test."""
    path = resolve_path(cfg.path)
    fmt = cfg.format if cfg.format != "auto" else detect_format(path)
    reader = {"idx": read_idx_folder, "npz": read_npz, "folder": read_image_folder}[fmt]
    (xtr, ytr), (xte, yte), names = reader(path, cfg)
    if len(xtr) <= cfg.val_size:
        raise UserError(
            f"data.val_size={cfg.val_size} leaves no training images ({len(xtr)} in {path}); lower data.val_size"
        )
    if len(xte) == 0:
        raise UserError(f"{path} has no test images")
    g = torch.Generator().manual_seed(cfg.split_seed)
    order = torch.randperm(len(xtr), generator=g)
    val_idx, train_idx = order[: cfg.val_size].sort().values, order[cfg.val_size :].sort().values
    if cfg.max_train_examples:
        train_idx = train_idx[: cfg.max_train_examples]
    return ImageSplits(
        (xtr[train_idx], ytr[train_idx]), (xtr[val_idx], ytr[val_idx]), (xte, yte), list(cfg.class_names) or names
    )


def detect_format(path: Path) -> str:
    if path.is_file():
        if path.suffix == ".npz":
            return "npz"
        raise UserError(
            f"data.path: {path} is a file but not .npz; give an .npz file, an idx folder or an image folder"
        )
    names = {p.name for p in path.iterdir()}
    if any(n.startswith("train-images-idx3-ubyte") for n in names):
        return "idx"
    if "train.npz" in names:
        return "npz"
    return "folder"


# -- idx ----------------------------------------------------------------------------------------------
def read_idx(path: Path) -> np.ndarray:
    """One idx file (optionally gzipped) as a uint8 array of its stated shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
        zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype != 0x08:
            raise ValueError("not an unsigned-byte idx file")
        shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        return data.reshape(shape)
    except (OSError, EOFError, ValueError, struct.error) as e:
        raise UserError(f"{path} is not a readable idx file: {e}") from None


def _find(path: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (path / name).is_file():
            return path / name
    raise UserError(f"{path} lacks {stem}[.gz] (the MNIST file names are expected in an idx folder)")


def read_idx_folder(path: Path, cfg: ImageDataConfig):
    out = []
    for split in ("train", "t10k"):
        x = read_idx(_find(path, f"{split}-images-idx3-ubyte"))
        y = read_idx(_find(path, f"{split}-labels-idx1-ubyte"))
        if len(x) != len(y):
            raise UserError(f"{path}: {len(x)} {split} images but {len(y)} labels")
        out.append((_to_nchw(x, path), torch.from_numpy(y.astype(np.int64))))
    return out[0], out[1], []


# -- npz ----------------------------------------------------------------------------------------------
def read_npz(path: Path, cfg: ImageDataConfig):
    if path.is_file():
        arrays = _load_npz(path)
        need = ("x_train", "x_test")
        if not all(k in arrays for k in need):
            raise UserError(
                f"{path} holds {sorted(arrays)}; an .npz file needs x_train and x_test (and optionally y_train, y_test)"
            )
        parts = [(arrays["x_train"], arrays.get("y_train")), (arrays["x_test"], arrays.get("y_test"))]
    else:
        parts = []
        for split in ("train", "test"):
            f = path / f"{split}.npz"
            if not f.is_file():
                raise UserError(f"{path} lacks {split}.npz")
            arrays = _load_npz(f)
            if "images" not in arrays:
                raise UserError(f"{f} holds {sorted(arrays)}; it needs an array named 'images'")
            parts.append((arrays["images"], arrays.get("labels")))
    out = []
    for x, y in parts:
        images = _to_nchw(_as_uint8(x, path), path)
        labels = (
            torch.full((len(images),), -1, dtype=torch.long)
            if y is None
            else torch.as_tensor(np.asarray(y).astype(np.int64).reshape(-1))
        )
        if len(labels) != len(images):
            raise UserError(f"{path}: {len(images)} images but {len(labels)} labels")
        out.append((images, labels))
    return out[0], out[1], []


def _load_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable .npz file: {e}") from None


def _as_uint8(x: np.ndarray, path: Path) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        if x.size and (x.min() < 0 or x.max() > 1):
            raise UserError(f"{path}: float images must lie in [0, 1], found [{x.min():.3g}, {x.max():.3g}]")
        return np.rint(x * 255).astype(np.uint8)
    if np.issubdtype(x.dtype, np.integer) and x.size and x.min() >= 0 and x.max() <= 255:
        return x.astype(np.uint8)
    raise UserError(f"{path}: images must be uint8, or floats in [0, 1]; found {x.dtype}")


def _to_nchw(x: np.ndarray, path: Path) -> torch.Tensor:
    """(N, H, W), (N, H, W, C) or (N, C, H, W) -> uint8 tensor (N, C, H, W)."""
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)
    elif x.ndim != 4:
        raise UserError(f"{path}: images must have 3 or 4 dimensions, found shape {x.shape}")
    return torch.from_numpy(np.require(x, requirements=["C", "W"]))  # idx bytes are read-only


# -- folder -------------------------------------------------------------------------------------------
def read_image_folder(path: Path, cfg: ImageDataConfig):
    if (path / "train").is_dir() and (path / "test").is_dir():
        train, names = _read_class_folders(path / "train", None)
        test, _ = _read_class_folders(path / "test", names)
        return train, test, names
    (x, y), names = _read_class_folders(path, None)
    if len(x) <= cfg.test_size:
        raise UserError(f"{path} holds {len(x)} images; data.test_size={cfg.test_size} leaves none to train on")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.split_seed + 1))
    test_idx, train_idx = order[: cfg.test_size].sort().values, order[cfg.test_size :].sort().values
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx]), names


def _read_class_folders(root: Path, names: list[str] | None):
    from PIL import Image

    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if names is None:
        names = classes
    files = []
    if classes:
        for c in classes:
            if c not in names:
                raise UserError(f"{root / c}: class {c!r} is not among the training classes {names}")
            files += [(f, names.index(c)) for f in sorted((root / c).rglob("*")) if f.suffix.lower() in IMAGE_SUFFIXES]
    else:
        files = [(f, -1) for f in sorted(root.glob("*")) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise UserError(f"{root} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    arrays, first = [], None
    for f, _ in files:
        try:
            with Image.open(f) as im:
                a = np.asarray(im.convert("L" if im.mode in ("1", "L", "I;16", "I") else "RGB"))
        except OSError as e:
            raise UserError(f"{f} is not a readable image: {e}") from None
        if first is None:
            first = (a.shape, f)
        elif a.shape != first[0]:
            raise UserError(f"{f} is {a.shape} but {first[1]} is {first[0]}; all images must share one size")
        arrays.append(a)
    x = _to_nchw(np.stack(arrays), root)
    return (x, torch.tensor([label for _, label in files], dtype=torch.long)), names


# -- batches ------------------------------------------------------------------------------------------
class ImageDataset(Dataset):
    """Indices into a uint8 image tensor; the batcher turns them into model inputs."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> int:
        return i


class ImageBatcher:
    """Collate indices of one ImageDataset into {"images": float (B, C, H, W), "labels", "index"}.

    binarize="dynamic": training batches draw each pixel ~ Bernoulli(intensity) afresh; evaluation
    batches use one fixed draw made with seed 0.
    binarize="none": intensities in [0, 1]; with `dequantize` (the Gaussian likelihood), training adds
    uniform noise (x + u) / 256 and evaluation uses one fixed noise draw (seed 0).

    Training noise comes from a generator seeded by (seed, epoch, the batch's indices), not from the
    global RNG: Accelerate's loader collates one batch ahead, so noise drawn from the global RNG at
    collate time would differ between an uninterrupted run and one resumed from a checkpoint.
    `epoch` is a callable giving the current epoch (the training sampler's).
    """

    def __init__(
        self,
        dataset: ImageDataset,
        binarize: str,
        train: bool,
        dequantize: bool = False,
        seed: int = 0,
        epoch=lambda: 0,
    ):
        self.dataset, self.binarize, self.train, self.dequantize = dataset, binarize, train, dequantize
        self.seed, self.epoch = seed, epoch
        self.fixed = None
        if not train:
            g = torch.Generator().manual_seed(0)
            x = dataset.images
            if binarize == "dynamic":
                self.fixed = (torch.rand(x.shape, generator=g) * 255 < x.float()).to(torch.uint8)
            elif dequantize:
                self.fixed = torch.rand(x.shape, generator=g)

    def __call__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        raw = self.dataset.images[idx]
        g = None
        if self.train:
            g = torch.Generator().manual_seed(hash((self.seed, self.epoch(), *indices)) & 0x7FFF_FFFF_FFFF_FFFF)
        if self.binarize == "dynamic":
            x = torch.bernoulli(raw.float() / 255, generator=g) if self.train else self.fixed[idx].float()
        elif self.dequantize:
            noise = torch.rand(raw.shape, generator=g) if self.train else self.fixed[idx]
            x = (raw.float() + noise) / 256
        else:
            x = raw.float() / 255
        return {"images": x, "labels": self.dataset.labels[idx], "index": idx}
