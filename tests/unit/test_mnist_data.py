"""IDX reading/writing, the MNIST loader's sources, and partitioning."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from stacklab.core.errors import UserError
from stacklab.data import mnist


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    array = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    path = mnist.write_idx(tmp_path / name, array)
    back = mnist.read_idx(path)
    assert back.dtype == np.uint8 and back.shape == (7, 28, 28)
    assert np.array_equal(back, array)
    if name.endswith(".gz"):
        assert gzip.open(path).read(4) == bytes([0, 0, 0x08, 3])


def test_idx_round_trip_other_dtypes(tmp_path):
    for array in (np.arange(10, dtype=np.int32) - 5, np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)):
        assert np.array_equal(mnist.read_idx(mnist.write_idx(tmp_path / "a.idx", array)), array)


def test_truncated_idx_is_a_user_error(tmp_path):
    path = mnist.write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UserError, match="truncated"):
        mnist.read_idx(path)


def test_truncated_gz_and_garbage_are_user_errors(tmp_path):
    gz = mnist.write_idx(tmp_path / "a.gz", np.zeros((50, 28, 28), np.uint8))
    gz.write_bytes(gz.read_bytes()[:30])
    with pytest.raises(UserError):
        mnist.read_idx(gz)
    junk = tmp_path / "junk"
    junk.write_bytes(b"<html>not found</html>")
    with pytest.raises(UserError, match="not an IDX"):
        mnist.read_idx(junk)


def _write_fake_mnist(directory, n_train=40, n_test=10):
    rng = np.random.default_rng(1)
    for split, n in (("train", n_train), ("test", n_test)):
        images_name, labels_name = mnist.FILES[split]
        mnist.write_idx(directory / f"{images_name}.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        mnist.write_idx(directory / labels_name, rng.integers(0, 10, n).astype(np.uint8))


def test_load_from_directory_and_torchvision_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    _write_fake_mnist(raw)
    for source in (tmp_path, raw):
        x, y, info = mnist.load_mnist(str(source), "test")
        assert x.shape == (10, 1, 28, 28) and x.dtype == np.float32
        assert y.dtype == np.int64 and info["real_data"] is True
    x, y, _ = mnist.load_mnist(str(tmp_path), "train", limit=15)
    assert len(x) == len(y) == 15


def test_missing_directory_and_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        mnist.load_mnist(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="lacks"):
        mnist.load_mnist(str(tmp_path))
    with pytest.raises(UserError, match="split"):
        mnist.load_mnist("standin", "validation")


def test_auto_prefers_env_dir(tmp_path, monkeypatch):
    _write_fake_mnist(tmp_path)
    monkeypatch.setenv("STACKLAB_MNIST_DIR", str(tmp_path))
    _, y, info = mnist.load_mnist("auto", "test")
    assert info["real_data"] and len(y) == 10


def test_stand_in_is_deterministic_and_learnable_shape(capsys):
    x, y, info = mnist.load_mnist("standin", "train")
    x2, y2, _ = mnist.load_mnist("standin", "train")
    xt, yt, _ = mnist.load_mnist("standin", "test")
    assert info["real_data"] is False
    assert 3000 <= len(y) <= 10000 and 800 <= len(yt) <= 1500
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert set(np.unique(y)) == set(range(10))
    # normalised like MNIST: background near -mean/std, mean near 0
    assert abs(float(x.mean())) < 0.5 and x.min() == pytest.approx(-mnist.MEAN / mnist.STD, abs=1e-5)


def test_stand_in_grows_to_the_size_asked_for():
    x, y, info = mnist.load_mnist("standin", "train", limit=9000)
    assert x.shape == (9000, 1, 28, 28) and info["n"] == 9000 and set(np.unique(y)) == set(range(10))


def test_uint8_round_trip_is_exact():
    x, _, _ = mnist.load_mnist("standin", "test", limit=200)
    pixels = mnist.to_uint8(x)
    assert pixels.dtype == np.uint8 and pixels.shape == (200, 28, 28)
    assert np.array_equal(mnist.normalise(pixels), x)


def test_normalise_is_mnist_mean_std_of_every_pixel_value():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    x = mnist.normalise(pixels)
    assert x.dtype == np.float32 and x.shape == (1, 1, 16, 16)
    expected = (np.arange(256) / 255.0 - 0.1307) / 0.3081
    assert np.allclose(x.ravel(), expected, atol=1e-6)


@pytest.mark.parametrize("iid", [True, False])
def test_partition_disjoint_and_covering(iid):
    labels = np.random.default_rng(0).integers(0, 10, 3000)
    parts = [mnist.partition(labels, 4, p, iid=iid, seed=3) for p in range(4)]
    joined = np.concatenate(parts)
    assert len(joined) == len(labels) and len(np.unique(joined)) == len(labels)
    assert all(len(p) > 0 for p in parts)
    assert np.array_equal(parts[2], mnist.partition(labels, 4, 2, iid=iid, seed=3))


def test_non_iid_is_really_skewed():
    labels = np.random.default_rng(0).integers(0, 10, 6000)
    overall = np.bincount(labels, minlength=10) / len(labels)

    def distance_from_overall(idx):  # total variation distance of label distributions
        counts = np.bincount(labels[idx], minlength=10)
        return 0.5 * np.abs(counts / counts.sum() - overall).sum()

    for n in (2, 3):
        iid = [distance_from_overall(mnist.partition(labels, n, p, iid=True)) for p in range(n)]
        skew = [distance_from_overall(mnist.partition(labels, n, p, iid=False)) for p in range(n)]
        assert max(iid) < 0.06
        assert min(skew) > 0.2


def test_partition_bad_arguments():
    with pytest.raises(UserError):
        mnist.partition(np.zeros(10, int), 0, 0)
    with pytest.raises(UserError):
        mnist.partition(np.zeros(10, int), 2, 2)
