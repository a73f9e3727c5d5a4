"""Image sources: offline sets, and the Hub-format conversion exercised on local fixtures."""
import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value

from nws_datasets.sources import SourceError, load_images, to_32x32x3


def hub_like(n_train: int, n_test: int, shape: tuple, image_col: str = "image") -> DatasetDict:
    """A tiny image dataset in the schema of the Hub copies (Image + ClassLabel columns)."""
    rng = np.random.default_rng(0)
    feats = Features({image_col: Image(), "label": ClassLabel(names=[str(i) for i in range(10)])})

    def split(n):
        return Dataset.from_dict({image_col: [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)],
                                  "label": [i % 10 for i in range(n)]}, features=feats)
    return DatasetDict(train=split(n_train), test=split(n_test))


def test_grey_28x28_parquet_folder_like_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("NWS_HOME", str(tmp_path / "home"))
    dd = hub_like(50, 20, (28, 28))
    (tmp_path / "mnist" / "data").mkdir(parents=True)
    for name, ds in dd.items():
        ds.to_parquet(str(tmp_path / "mnist" / "data" / f"{name}-00000-of-00001.parquet"))
    images = load_images("mnist", location=str(tmp_path / "mnist"))
    assert images.x_train.shape == (45, 32, 32, 3) and images.x_val.shape == (5, 32, 32, 3)
    assert images.x_test.shape == (20, 32, 32, 3) and images.x_train.dtype == np.uint8
    # grey replicated to three identical channels
    assert np.array_equal(images.x_train[..., 0], images.x_train[..., 2])
    assert sorted(np.concatenate([images.y_train, images.y_val]).tolist()) == sorted(dd["train"]["label"])
    assert (tmp_path / "home" / "images" / "mnist.npz").exists()
    again = load_images("mnist", location="/nonexistent")  # served from the cache
    assert np.array_equal(again.x_train, images.x_train)


def test_rgb_96x96_saved_to_disk_like_stl10(tmp_path, monkeypatch):
    monkeypatch.setenv("NWS_HOME", str(tmp_path / "home"))
    hub_like(30, 10, (96, 96, 3), image_col="img").save_to_disk(str(tmp_path / "stl"))
    images = load_images("stl10", location=str(tmp_path / "stl"))
    assert images.x_train.shape == (27, 32, 32, 3) and images.x_test.shape == (10, 32, 32, 3)


def test_resize_is_exact_for_constant_images():
    x = np.full((2, 96, 96, 3), 77, np.uint8)
    assert np.all(to_32x32x3(x) == 77)
    assert to_32x32x3(np.zeros((3, 8, 8), np.uint8)).shape == (3, 32, 32, 3)


def test_offline_sources_ship_in_packages():
    m = load_images("mnist_sample")
    assert (len(m.x_train), len(m.x_val), len(m.x_test)) == (3600, 400, 1000)
    d = load_images("digits")
    assert d.x_train.shape[1:] == (32, 32, 3) and len(d.x_train) + len(d.x_val) + len(d.x_test) == 1797
    assert set(np.unique(d.y_test)) == set(range(10))
    assert d.x_train.max() > 200  # rescaled from 0..16


def test_unknown_and_unreadable_sources_fail_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("NWS_HOME", str(tmp_path / "home"))
    with pytest.raises(SourceError, match="unknown image source 'imagenet'.*mnist"):
        load_images("imagenet")
    with pytest.raises(SourceError, match=r"cifar10.*--source cifar10=PATH.*NWS_SOURCE_CIFAR10"):
        load_images("cifar10", location=str(tmp_path / "missing"))
