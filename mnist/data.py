"""MNIST data: IDX parsing, MD5 checks, the embedded 10k set, the full 60k/10k set, download.

Two sources, one result type (`MnistData`):

- "embedded": the official 10,000 t10k test images shipped in `embedded/` (about 1.7 MB), split by
  a seeded permutation into training and validation parts, so the app works offline.
- "full": the official 60,000 training and 10,000 test images, read from the directory named by
  the `MNIST_DIR` environment variable or, when it is unset, from the user cache directory
  (`$XDG_CACHE_HOME/optimizer-visualizer/mnist`, default `~/.cache/optimizer-visualizer/mnist`).
  `download_full()` fills that directory. Every file's size and MD5 are checked against the
  published ones before it is decompressed, and no file is ever decompressed (or downloaded) past
  its published size, so a hostile file costs at most that much memory and time.

`load_mnist()` never raises on missing, unreadable or damaged files: it falls back to the embedded
set and says why in `MnistData.note`. NumPy and the standard library only (no torch, no streamlit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gzip
import hashlib
import http.client
import io
import math
import os
import stat
import tempfile
import time
import types
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"

# Published MD5s of the gzip'd files (the ones torchvision checks).
MD5 = {
    TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
    TEST_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
    TEST_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
}
FULL_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
# Sizes in bytes of the published files (fixed by their MD5s) and of their decompressed IDX data.
GZ_SIZE = {TRAIN_IMAGES: 9_912_422, TRAIN_LABELS: 28_881, TEST_IMAGES: 1_648_877, TEST_LABELS: 4_542}
RAW_SIZE = {TRAIN_IMAGES: 47_040_016, TRAIN_LABELS: 60_008, TEST_IMAGES: 7_840_016, TEST_LABELS: 10_008}

# torchvision's mirrors, tried in order.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
ENV_DIR = "MNIST_DIR"
IMAGE_SIDE = 28
N_CLASSES = 10

# IDX type code (third magic byte) -> big-endian dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16
_FALLBACK = "using the embedded 10,000-image set"

Source = Literal["auto", "embedded", "full"]
Progress = Callable[[str, int, int | None], None]


class MnistDataError(ValueError):
    """A data file is missing, unreadable, truncated, malformed or not the canonical one."""


class MnistDownloadError(OSError):
    """A file could not be fetched from any mirror with the published checksum."""


def _unreadable(path: Path, err: OSError) -> MnistDataError:
    """The error for a file the OS will not let us read (missing, a directory, no permission)."""
    return MnistDataError(f"{path.name} cannot be read: {err.strerror or err}")


@dataclasses.dataclass(frozen=True, eq=False)
class MnistData:
    """A loaded MNIST split; arrays are read-only because loads are memoised and shared.

    x_train: [n_train, 784] float32 pixels in [0, 1] (row-major 28x28 images)
    y_train: [n_train] int64 class labels in 0..9
    x_val:   [n_val, 784] float32, y_val: [n_val] int64 (for "full": the official 10,000 test images)
    source: "embedded" or "full", what was actually loaded
    description: human text saying what was loaded and from where
    note: why a requested or configured full set was not used, else None
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    source: Literal["embedded", "full"]
    description: str
    note: str | None = None


# ---------------------------------------------------------------- IDX parsing


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """Decode raw (uncompressed) IDX bytes into an array of the declared dtype and dims.

    Header: two zero bytes, a type code, the number of dims, then each dim as a big-endian uint32.
    Raises MnistDataError naming `name` on a wrong magic, a truncated file or trailing bytes.
    """
    if len(data) < 4:
        raise MnistDataError(
            f"{name} is truncated: {len(data)} bytes, an IDX header needs 4"
        )
    zeros, code, ndim = data[:2], data[2], data[3]
    if zeros != b"\0\0" or code not in _IDX_DTYPES or ndim == 0:
        raise MnistDataError(
            f"{name} is not an IDX file: wrong magic number 0x{data[:4].hex()}"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise MnistDataError(
            f"{name} is truncated inside its header ({len(data)} bytes)"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header_size
    if found != expected:
        problem = "is truncated" if found < expected else "has a size mismatch"
        raise MnistDataError(
            f"{name} {problem}: header declares {'x'.join(map(str, dims))} "
            f"= {expected:,} data bytes, file has {found:,}"
        )
    values = np.frombuffer(data, dtype, offset=header_size).reshape(dims)
    return values.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip'd or raw (told apart by content, not by name); see parse_idx.

    The IDX bytes are read (decompressed) in chunks up to a cap: RAW_SIZE of an MNIST file name,
    else the largest MNIST file (47,040,016 bytes). A file holding more (a gzip bomb) raises
    MnistDataError after reading at most cap + 64 KiB, so memory and time stay bounded.
    """
    path = Path(path)
    cap = RAW_SIZE.get(path.name, max(RAW_SIZE.values()))
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == _GZIP_MAGIC
            f.seek(0)
            data = _read_capped(gzip.GzipFile(fileobj=f) if gzipped else f, cap)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise MnistDataError(f"{path.name} is truncated or corrupt (gzip: {err})") from err
    except OSError as err:
        raise _unreadable(path, err) from err
    if data is None:
        whose = "the canonical file's" if path.name in RAW_SIZE else "the largest MNIST file's"
        raise MnistDataError(
            f"{path.name} is too large: it {'decompresses to' if gzipped else 'holds'} more than "
            f"{cap:,} bytes, the size of {whose} IDX data"
        )
    return parse_idx(data, path.name)


def _read_capped(stream: BinaryIO, cap: int) -> bytes | None:
    """All of `stream`, or None as soon as it yields more than `cap` bytes."""
    chunks, size = [], 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def read_images(path: str | os.PathLike) -> np.ndarray:
    """Read an MNIST image file: [n, 28, 28] uint8, 0 = background, 255 = ink."""
    images = read_idx(path)
    if images.dtype != np.uint8 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise MnistDataError(
            f"{Path(path).name} is not an MNIST image file: {images.dtype} {images.shape}, "
            f"expected uint8 [n, {IMAGE_SIDE}, {IMAGE_SIDE}]"
        )
    return images


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Read an MNIST label file: [n] uint8 in 0..9."""
    labels = read_idx(path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise MnistDataError(
            f"{Path(path).name} is not an MNIST label file: {labels.dtype} {labels.shape}, "
            "expected uint8 [n]"
        )
    if labels.size and labels.max() >= N_CLASSES:
        raise MnistDataError(
            f"{Path(path).name} has labels outside 0..9 (max {labels.max()})"
        )
    return labels


def read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read matching image and label files: ([n, 28, 28] uint8, [n] uint8)."""
    images, labels = read_images(images_path), read_labels(labels_path)
    if len(images) != len(labels):
        raise MnistDataError(
            f"{images_path.name} has {len(images):,} images but "
            f"{labels_path.name} has {len(labels):,} labels"
        )
    return images, labels


# ---------------------------------------------------------------- checksums


def file_md5(path: str | os.PathLike) -> str:
    """MD5 hex digest of a file's bytes, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _md5_of_version(path: str, mtime_ns: int, size: int) -> str:
    """file_md5 memoised per file version (path, mtime, size): loads do not rehash 10 MB."""
    return file_md5(path)


def _is_file(path: Path) -> bool:
    """Path.is_file(), except that an OS refusal (EACCES on the directory...) is MnistDataError."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as err:
        raise _unreadable(path, err) from err


def _stamp(path: Path) -> tuple[str, int, int]:
    """(path, mtime_ns, size): identifies one version of a file for the memo caches."""
    try:
        st = path.stat()
    except OSError as err:
        raise _unreadable(path, err) from err
    return str(path), st.st_mtime_ns, st.st_size


def _canonical(path: Path) -> tuple[bool, str]:
    """(whether `path` is the published file of its name, what was found: its size or MD5).

    The size is compared first, so a file that cannot match is never hashed; nothing is
    decompressed. Raises MnistDataError if the file cannot be read.
    """
    stamp = _stamp(path)
    if stamp[2] != GZ_SIZE[path.name]:
        return False, f"{stamp[2]:,} bytes"
    try:
        actual = _md5_of_version(*stamp)
    except OSError as err:
        raise _unreadable(path, err) from err
    return actual == MD5[path.name], f"MD5 {actual}"


def verify_md5(path: Path) -> None:
    """Raise MnistDataError unless `path` has the published size and MD5 of its file name.

    The compressed file is checked first (see _canonical). On a mismatch it is read, within
    read_idx's cap, to report its concrete defect (truncated, bad magic, too large...) when it has
    one; the message always names the file and the published size and MD5.
    """
    is_canonical, found = _canonical(path)
    if is_canonical:
        return
    published = f"the canonical file has {GZ_SIZE[path.name]:,} bytes and MD5 {MD5[path.name]}"
    try:
        read_idx(path)
    except MnistDataError as err:
        raise MnistDataError(f"{err}; {published}") from err
    raise MnistDataError(f"{path.name} is not the canonical MNIST file: {found}; {published}")


def _has_md5(path: Path) -> bool:
    """Whether `path` exists with its published size and MD5."""
    try:
        return _canonical(path)[0]
    except MnistDataError:
        return False


# ---------------------------------------------------------------- loading


def full_dir() -> Path:
    """Where the full set is looked for and downloaded: $MNIST_DIR, else the user cache dir."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "optimizer-visualizer" / "mnist"


def _dir_label(directory: Path) -> str:
    """How the full-set directory was chosen, for notes: 'MNIST_DIR=/x' or 'cache dir /y'."""
    if os.environ.get(ENV_DIR):
        return f"{ENV_DIR}={directory}"
    return f"cache dir {directory}"


def _as_features(images: np.ndarray) -> np.ndarray:
    """[n, 28, 28] uint8 -> [n, 784] float32 in [0, 1], read-only."""
    x = images.reshape(len(images), -1).astype(np.float32)
    x /= 255.0
    x.flags.writeable = False
    return x


def _as_targets(labels: np.ndarray) -> np.ndarray:
    """[n] uint8 -> [n] int64, read-only."""
    y = labels.astype(np.int64)
    y.flags.writeable = False
    return y


def embedded_split(n: int, n_val: int, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Split indices 0..n-1: (train [n - n_val], val [n_val]), int64.

    seed None (the default everywhere): the files' order, training on the first n - n_val images
    and validating on the last n_val (the split the published reference accuracy was measured on).
    Otherwise perm = np.random.default_rng(seed).permutation(n); validation = perm[:n_val],
    training = perm[n_val:]. Same seed, same split, on every platform.
    """
    if not 0 < n_val < n:
        raise ValueError(f"Invalid n_val: {n_val} (must be between 1 and {n - 1})")
    perm = np.roll(np.arange(n), n_val) if seed is None else np.random.default_rng(seed).permutation(n)
    return perm[n_val:], perm[:n_val]


def _split_text(seed: int | None) -> str:
    return "validation = the last images in file order" if seed is None else f"random split, seed {seed}"


def load_embedded(n_val: int = 2000, seed: int | None = None) -> MnistData:
    """The embedded 10,000 t10k images split into training (10,000 - n_val) and validation.

    The split is `embedded_split(10_000, n_val, seed)`. Memoised; raises MnistDataError only if
    the files shipped with the package are damaged (there is nothing left to fall back to).
    """
    paths = (EMBEDDED_DIR / TEST_IMAGES, EMBEDDED_DIR / TEST_LABELS)
    return _load_embedded(tuple(_stamp(p) for p in paths), int(n_val), None if seed is None else int(seed))


@functools.lru_cache(maxsize=4)
def _load_embedded(stamps: tuple, n_val: int, seed: int | None) -> MnistData:
    """load_embedded memoised on the embedded files' versions and the split."""
    images_path, labels_path = (Path(s[0]) for s in stamps)
    verify_md5(images_path)
    verify_md5(labels_path)
    images, labels = read_pair(images_path, labels_path)
    train, val = embedded_split(len(images), n_val, seed)
    return MnistData(
        x_train=_as_features(images[train]),
        y_train=_as_targets(labels[train]),
        x_val=_as_features(images[val]),
        y_val=_as_targets(labels[val]),
        source="embedded",
        description=(
            f"embedded MNIST subset: {len(train):,} train / {len(val):,} validation "
            f"from the {len(images):,} official test images ({_split_text(seed)})"
        ),
    )


def load_full(directory: str | os.PathLike | None = None) -> MnistData:
    """The full set from `directory` (default full_dir()): 60,000 train, 10,000 test as validation.

    Each file must carry its published MD5. Raises MnistDataError naming the file on any defect.
    Memoised on the directory and every file's (mtime, size).
    """
    directory = Path(directory) if directory is not None else full_dir()
    missing = [name for name in FULL_FILES if not _is_file(directory / name)]
    if missing:
        raise MnistDataError(f"{', '.join(missing)} not found")
    return _load_full(tuple(_stamp(directory / name) for name in FULL_FILES))


@functools.lru_cache(maxsize=2)
def _load_full(stamps: tuple) -> MnistData:
    """load_full memoised on the four files' versions (in FULL_FILES order)."""
    paths = [Path(s[0]) for s in stamps]
    for path in paths:
        verify_md5(path)
    train_images, train_labels = read_pair(paths[0], paths[1])
    test_images, test_labels = read_pair(paths[2], paths[3])
    return MnistData(
        x_train=_as_features(train_images),
        y_train=_as_targets(train_labels),
        x_val=_as_features(test_images),
        y_val=_as_targets(test_labels),
        source="full",
        description=(
            f"full MNIST: {len(train_images):,} train / {len(test_images):,} test "
            f"from {paths[0].parent}"
        ),
    )


def load_mnist(source: Source = "auto", n_val: int = 2000, seed: int | None = None) -> MnistData:
    """Load MNIST without ever failing on missing, unreadable or damaged files.

    source: "full" (the full set; if unavailable or invalid, the embedded set with a note saying
    why), "auto" (the full set when all four files are present and valid, else the embedded set;
    a note only when some file was present but broken, or the directory could not be searched),
    "embedded" (always the embedded set).
    n_val, seed: the embedded split (see load_embedded); the full set uses the official test set.
    """
    if source not in ("auto", "embedded", "full"):
        raise ValueError(
            f"Invalid MNIST source: {source!r} (expected 'auto', 'embedded' or 'full')"
        )
    if source == "embedded":
        return load_embedded(n_val, seed)
    directory = full_dir()
    absent = False
    try:
        absent = not any(_is_file(directory / name) for name in FULL_FILES)
        if not absent:
            return load_full(directory)
        reason = "full MNIST not found (see download_full)"
    except MnistDataError as err:
        reason = str(err)
    if source == "auto" and absent:
        return load_embedded(n_val, seed)
    note = f"{_dir_label(directory)}: {reason}; {_FALLBACK}"
    return dataclasses.replace(load_embedded(n_val, seed), note=note)


# ---------------------------------------------------------------- download


def download_full(
    dest: str | os.PathLike | None = None,
    mirrors: Sequence[str] = MIRRORS,
    timeout: float = 30,
    progress: Progress | None = None,
    deadline: float = 300,
) -> Path:
    """Fetch the four full-set files into `dest` (default full_dir()) and return `dest`.

    Mirrors are tried in order per file (the default list puts the HTTPS mirror first); a file
    already in `dest` with its published size and MD5 is kept. Each file is streamed to a temp
    file in `dest`, checked (size, MD5), fsync'd and renamed into place, so `dest` never holds a
    partial file: the temp file is removed on every way out (an error, the deadline,
    KeyboardInterrupt, a Streamlit stop), and one left by a killed process is removed by the next
    call once it is older than that call's deadline.

    Caps: nothing is written past a file's published size (GZ_SIZE). A declared Content-Length
    other than that size is refused before the body is read; a longer body is cut off there.
    deadline: seconds for the whole call. timeout: seconds one socket operation may wait. Each
    read of a response (status line, headers, body) waits at most min(timeout, time left), so a
    server that stalls or trickles is dropped at the deadline; connecting (and the TLS handshake)
    waits at most min(timeout, time left when it starts).
    progress(file_name, bytes_done, bytes_total) is called as bytes arrive (the total is the
    published size). Raises MnistDownloadError naming the file, the mirrors tried and what each
    did, and the deadline when it passed.
    """
    if not mirrors:
        raise ValueError("Invalid mirrors: at least one mirror URL is needed")
    for label, seconds in (("timeout", timeout), ("deadline", deadline)):
        if not seconds > 0:
            raise ValueError(f"Invalid {label}: {seconds!r} (must be more than 0 seconds)")
    limits = _Limits(timeout, deadline, time.monotonic() + deadline)
    dest = Path(dest) if dest is not None else full_dir()
    dest.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(dest, deadline)
    for name in FULL_FILES:
        target = dest / name
        if _has_md5(target):
            if progress:
                progress(name, GZ_SIZE[name], GZ_SIZE[name])
            continue
        _download_file(target, mirrors, limits, progress)
    return dest


@dataclasses.dataclass(frozen=True)
class _Limits:
    """download_full's clock: `timeout` s per socket operation, `deadline` s ending at `end`."""

    timeout: float
    deadline: float
    end: float  # on time.monotonic()

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def wait(self) -> float:
        """Seconds the next socket operation may wait; TimeoutError once the deadline has passed."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the {self.deadline:g} s deadline passed")
        return min(self.timeout, left)


def _download_file(
    target: Path, mirrors: Sequence[str], limits: _Limits, progress: Progress | None
) -> None:
    """Fetch target.name from the first mirror that serves it intact before the deadline."""
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + target.name
        try:
            _fetch(url, target, limits, progress)
            return
        except (OSError, http.client.HTTPException) as err:
            failures.append(f"{url}: {_describe(err)}")
        if limits.expired():
            break
    late = f" within the {limits.deadline:g} s deadline" if limits.expired() else ""
    raise MnistDownloadError(
        f"could not download {target.name}{late}; tried {len(failures)} mirror(s): "
        + "; ".join(failures)
    )


def _fetch(url: str, target: Path, limits: _Limits, progress: Progress | None) -> None:
    """Stream `url` into `target` atomically; MnistDownloadError if short, long, late or corrupt."""
    size = GZ_SIZE[target.name]
    opener = urllib.request.build_opener(_LimitedHandler(limits))
    with opener.open(url, timeout=limits.wait()) as response:
        declared = _content_length(response)
        if declared is not None and declared != size:
            raise MnistDownloadError(
                f"declares {declared:,} bytes, the published file has {size:,}"
            )
        digest, done = hashlib.md5(usedforsecurity=False), 0
        with _atomic_write(target) as out:
            try:
                # read1: return what one socket read brings, so the deadline is checked between
                # reads (read(n) keeps reading until it has n bytes, however slowly they come).
                while chunk := response.read1(min(_CHUNK, size + 1 - done)):
                    done += len(chunk)
                    if done > size:
                        raise MnistDownloadError(f"sent more than the published {size:,} bytes")
                    out.write(chunk)
                    digest.update(chunk)
                    if progress:
                        progress(target.name, done, size)
            except TimeoutError as err:
                raise MnistDownloadError(f"{err} after {done:,} of {size:,} bytes") from err
            if done != size:
                raise MnistDownloadError(f"connection closed after {done:,} of {size:,} bytes")
            if digest.hexdigest() != MD5[target.name]:
                raise MnistDownloadError(
                    f"MD5 {digest.hexdigest()} does not match the published {MD5[target.name]}"
                )


def _content_length(response) -> int | None:
    """The Content-Length header as an int, or None when absent or malformed."""
    try:
        return int(response.headers["Content-Length"])
    except (TypeError, ValueError):
        return None


class _LimitedReader(io.RawIOBase):
    """The reading side of a socket; each read waits at most limits.wait() seconds."""

    def __init__(self, sock, limits: _Limits):
        super().__init__()
        # A file of its own on the socket, as http.client makes: it keeps the socket open after
        # urllib closes the connection's reference to it.
        self._sock, self._file, self._limits = sock, sock.makefile("rb", buffering=0), limits

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(self._limits.wait())
        return self._file.readinto(buffer)

    def close(self) -> None:
        self._file.close()
        super().close()


class _LimitedResponse(http.client.HTTPResponse):
    """An HTTP response read through _LimitedReader (status line, headers and body alike)."""

    def __init__(self, sock, *args, limits: _Limits, **kwargs):
        # HTTPResponse uses its socket for one call, sock.makefile("rb"): answer it with ours.
        reader = io.BufferedReader(_LimitedReader(sock, limits))
        super().__init__(types.SimpleNamespace(makefile=lambda mode: reader), *args, **kwargs)


class _LimitedConnection:
    """Mixin for http.client connections: their responses are _LimitedResponses."""

    def __init__(self, *args, limits: _Limits, **kwargs):
        super().__init__(*args, **kwargs)
        self.response_class = functools.partial(_LimitedResponse, limits=limits)


class _LimitedHTTP(_LimitedConnection, http.client.HTTPConnection):
    pass


class _LimitedHTTPS(_LimitedConnection, http.client.HTTPSConnection):
    pass


class _LimitedHandler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """urllib's HTTP and HTTPS handlers (default TLS context), on limited connections."""

    def __init__(self, limits: _Limits):
        super().__init__()
        self._limits = limits

    def http_open(self, req):
        return self.do_open(functools.partial(_LimitedHTTP, limits=self._limits), req)

    def https_open(self, req):
        return self.do_open(functools.partial(_LimitedHTTPS, limits=self._limits), req)


def _remove_stale_parts(dest: Path, age: float) -> None:
    """Remove temp files in `dest` last written over `age` seconds ago (their process was killed).

    A live download with the same deadline started less than `age` seconds ago, so it is spared.
    """
    for name in FULL_FILES:
        for part in dest.glob(f".{name}.*.part"):
            with contextlib.suppress(OSError):
                if time.time() - part.stat().st_mtime > age:
                    part.unlink()


@contextlib.contextmanager
def _atomic_write(target: Path) -> Iterator[BinaryIO]:
    """Yield a temp file beside `target`; on clean exit fsync and rename it onto `target`.

    On any exception (network error, checksum mismatch, KeyboardInterrupt, a Streamlit stop) the
    temp file is removed and the exception propagates, so no partial file is ever left behind.
    """
    fd, tmp = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    """Persist a rename (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _describe(err: BaseException) -> str:
    """One-line reason for a failed mirror."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    if isinstance(err, MnistDownloadError):
        return str(err)
    return f"{type(err).__name__}: {err}"
