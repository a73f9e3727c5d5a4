"""Image sources: offline sets, and the Hub-format conversion exercised on local fixtures."""
import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value

from nws_datasets.sources import SourceError, load_images, tf1_resize_bilinear, to_32x32x3


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
    assert images.x_train.shape == (50, 32, 32, 3)  # the whole pool: validation is drawn per model
    assert images.x_test.shape == (20, 32, 32, 3) and images.x_train.dtype == np.uint8
    # grey replicated to three identical channels
    assert np.array_equal(images.x_train[..., 0], images.x_train[..., 2])
    assert images.y_train.tolist() == dd["train"]["label"]
    assert (tmp_path / "home" / "images" / "mnist.v2.npz").exists()
    again = load_images("mnist", location="/nonexistent")  # served from the cache
    assert np.array_equal(again.x_train, images.x_train)


def test_rgb_96x96_saved_to_disk_like_stl10(tmp_path, monkeypatch):
    monkeypatch.setenv("NWS_HOME", str(tmp_path / "home"))
    hub_like(30, 10, (96, 96, 3), image_col="img").save_to_disk(str(tmp_path / "stl"))
    images = load_images("stl10", location=str(tmp_path / "stl"))
    assert images.x_train.shape == (30, 32, 32, 3) and images.x_test.shape == (10, 32, 32, 3)


def test_resize_is_exact_for_constant_images():
    x = np.full((2, 96, 96, 3), 77, np.uint8)
    assert np.all(to_32x32x3(x) == 77)
    assert to_32x32x3(np.zeros((3, 8, 8), np.uint8)).shape == (3, 32, 32, 3)


def test_upsampling_is_tensorflow1_legacy_bilinear():
    """Source coordinate = destination × in/out, no half-pixel offset, upper neighbour clamped.

    Row (0, 100) to width 4: sources 0, 0.5, 1, 1.5 → 0, 50, 100, 100 (PyTorch's half-pixel
    resize would give 0, 25, 75, 100)."""
    x = np.array([[0, 100], [200, 40]], np.float32).reshape(1, 2, 2, 1)
    y = tf1_resize_bilinear(x, 4)[0, :, :, 0]
    assert y[0].tolist() == [0, 50, 100, 100]
    assert y[:, 0].tolist() == [0, 100, 200, 200]
    assert y[1, 1] == 0.25 * (0 + 100 + 200 + 40)
    m = np.random.default_rng(0).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    up = to_32x32x3(m)
    assert np.array_equal(up[0, ::8, ::8, 0], m[0, ::7, ::7])  # destination 8k reads source 7k exactly


def test_offline_sources_ship_in_packages():
    m = load_images("mnist_sample")
    assert (len(m.x_train), len(m.x_test)) == (4000, 1000)
    d = load_images("digits")
    assert d.x_train.shape[1:] == (32, 32, 3) and len(d.x_train) + len(d.x_test) == 1797
    assert set(np.unique(d.y_test)) == set(range(10))
    assert d.x_train.max() > 200  # rescaled from 0..16


def test_unknown_and_unreadable_sources_fail_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("NWS_HOME", str(tmp_path / "home"))
    with pytest.raises(SourceError, match="unknown image source 'imagenet'.*mnist"):
        load_images("imagenet")
    with pytest.raises(SourceError, match=r"cifar10.*--source cifar10=PATH.*NWS_SOURCE_CIFAR10"):
        load_images("cifar10", location=str(tmp_path / "missing"))


def _write_idx(path, array: np.ndarray) -> None:
    import gzip

    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_idx_and_csv_copies_read_through_the_same_conversion(tmp_path, monkeypatch):
    from nws_datasets.sources import IDX_FILES

    monkeypatch.setenv("NWS_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), np.arange(30) % 10
    xt, yt = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), np.arange(10)
    idx = tmp_path / "idx"
    idx.mkdir()
    for key, arr in {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt}.items():
        _write_idx(idx / (IDX_FILES[key] + ".gz"), arr)
    fashion = load_images("fashion_mnist", location=str(idx))
    assert fashion.x_train.shape == (30, 32, 32, 3) and fashion.y_train.tolist() == y.tolist()
    assert np.array_equal(fashion.x_train, to_32x32x3(x)) and np.array_equal(fashion.x_test, to_32x32x3(xt))
    csv = tmp_path / "csv"
    csv.mkdir()
    for split, (a, b) in {"train": (x, y), "test": (xt, yt)}.items():
        cols = ["label"] + [f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)]
        rows = [",".join(cols)] + [",".join(map(str, [int(l), *img.ravel().tolist()])) for img, l in zip(a, b)]
        (csv / f"mnist_{split}.csv").write_text("\n".join(rows) + "\n")
    mnist = load_images("mnist", location=str(csv))
    assert np.array_equal(mnist.x_train, fashion.x_train) and np.array_equal(mnist.y_test, fashion.y_test)
    (idx / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x00\x00\x08\x03junk")
    with pytest.raises(SourceError, match=r"t10k-labels-idx1-ubyte.gz: not a readable gzip file"):
        load_images("fashion_mnist", location=str(idx), cache=False)


def test_full_mnist_and_fashion_mnist_install_offline_and_match_their_published_counts(tmp_path, monkeypatch):
    """`bash .ci/setup` installs both; decoded arrays must match the published class counts and
    the pinned checksums; the pool drops the first 5,000 training images as TF's reader did."""
    from nws_datasets.sources import _from_csv, _from_idx, _verify, offline_copy

    monkeypatch.setenv("NWS_HOME", str(tmp_path / "home"))
    for name, first_labels in (("mnist", [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]), ("fashion_mnist", [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])):
        folder = offline_copy(name)
        assert folder is not None, f"{name} is not installed: run bash .ci/setup"
        raw = _from_csv(folder) if name == "mnist" else _from_idx(folder)
        assert raw["y_train"][:10].tolist() == first_labels  # the original order (published first labels)
        images = load_images(name)
        assert images.x_train.shape == (55000, 32, 32, 3) and images.x_test.shape == (10000, 32, 32, 3)
        assert np.array_equal(images.y_train, raw["y_train"][5000:])
        assert np.array_equal(images.x_test[:5], to_32x32x3(raw["x_test"][:5]))
        bad = {k: v.astype(np.int64) if k.startswith("y") else v.copy() for k, v in raw.items()}
        bad["x_train"][123, 4, 5] ^= 1  # one pixel off: the counts still match, the checksum does not
        with pytest.raises(SourceError, match="sha256"):
            _verify(name, bad, folder)
        bad["y_test"][0] = (bad["y_test"][0] + 1) % 10
        with pytest.raises(SourceError, match="class counts"):
            _verify(name, bad, folder)


def test_absent_offline_copy_says_how_to_supply_it(tmp_path, monkeypatch):
    import nws_datasets.sources as sources

    monkeypatch.setenv("NWS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sources, "FASHION_DIRS", (tmp_path / "nowhere",))
    with pytest.raises(SourceError, match=r"fashion_mnist.*--source fashion_mnist=PATH.*bash \.ci/setup"):
        load_images("fashion_mnist")
