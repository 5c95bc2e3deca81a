"""MNIST data layer: IDX parsing, checksums, source selection and fallback, download.

References are independent of the code under test: published class counts and checksums typed in
here, hand-packed IDX headers, hashlib, and a plain gzip + np.frombuffer read of the raw files.
Downloads only ever reach HTTP servers on 127.0.0.1 started by these tests.
"""

import contextlib
import functools
import gzip
import hashlib
import shutil
import socket
import struct
import threading
from http.server import (
    BaseHTTPRequestHandler,
    SimpleHTTPRequestHandler,
    ThreadingHTTPServer,
)
from pathlib import Path

import numpy as np
import pytest

from mnist import data as mnist

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"MNIST files not found in {SHARED}"
)

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
CANONICAL_MD5 = {
    TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
    TEST_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
    TEST_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
}
T10K_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No MNIST_DIR, a private empty cache dir, and no proxy between us and 127.0.0.1."""
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


def idx_bytes(array: np.ndarray, code: int = 0x08, magic: bytes | None = None) -> bytes:
    """Hand-packed IDX: [0, 0, type code, ndim], big-endian uint32 dims, big-endian data."""
    dtype = {0x08: ">u1", 0x0C: ">i4"}[code]
    header = magic or struct.pack(">BBBB", 0, 0, code, array.ndim)
    return (
        header
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.astype(dtype).tobytes()
    )


def raw_idx(path: Path, offset: int) -> np.ndarray:
    """Reference reader for the canonical gz files: skip the known header size."""
    return np.frombuffer(gzip.decompress(path.read_bytes()), np.uint8, offset=offset)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def flip_byte(src: Path, dst: Path, position: int) -> Path:
    """Copy src to dst with the byte at `position` (negative: from the end) inverted."""
    buf = bytearray(src.read_bytes())
    buf[position] ^= 0xFF
    dst.write_bytes(bytes(buf))
    return dst


def link_shared(directory: Path, names=tuple(CANONICAL_MD5)) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).symlink_to(SHARED / name)
    return directory


def leftovers(directory: Path) -> list[str]:
    """Names in `directory` that are not a canonical file with its canonical MD5."""
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name not in CANONICAL_MD5 or md5(p) != CANONICAL_MD5[p.name]
    )


# ---------------------------------------------------------------- parser


@needs_shared
def test_t10k_shapes_labels_and_class_counts():
    images = mnist.read_images(SHARED / TEST_IMAGES)
    labels = mnist.read_labels(SHARED / TEST_LABELS)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == T10K_CLASS_COUNTS
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
    np.testing.assert_array_equal(images.ravel(), raw_idx(SHARED / TEST_IMAGES, 16))


@needs_shared
def test_train_set_shapes_and_first_label():
    images = mnist.read_images(SHARED / TRAIN_IMAGES)
    labels = mnist.read_labels(SHARED / TRAIN_LABELS)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels[0] == 5


@pytest.mark.parametrize("code", [0x08, 0x0C])
def test_raw_and_gzip_idx_decode_alike(tmp_path, code):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4) * (1 if code == 0x08 else 100_000)
    (tmp_path / "a.idx").write_bytes(idx_bytes(array, code))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(array, code)))
    for name in ("a.idx", "a.idx.gz"):
        decoded = mnist.read_idx(tmp_path / name)
        assert decoded.shape == (2, 3, 4)
        np.testing.assert_array_equal(decoded, array)
    assert mnist.read_idx(tmp_path / "a.idx").dtype == (
        np.uint8 if code == 0x08 else np.int32
    )


@pytest.mark.parametrize(
    "content, problem",
    [
        (idx_bytes(np.zeros((3, 28, 28)))[:-10], "truncated"),
        (gzip.compress(idx_bytes(np.zeros((3, 28, 28))))[:-10], "truncated"),
        (idx_bytes(np.zeros((3, 28, 28)))[:9], "truncated"),
        (b"", "truncated"),
        (idx_bytes(np.zeros((3, 28, 28)), magic=b"\x08\x03\x00\x00"), "wrong magic"),
        (idx_bytes(np.zeros((3, 28, 28)), magic=b"\x00\x00\x42\x03"), "wrong magic"),
        (idx_bytes(np.zeros((3, 28, 28))) + b"\0", "size mismatch"),
    ],
    # named, not by their bytes: a gzip header holds the time it was written, and every pytest-xdist
    # worker must collect the same ids
    ids=["raw-cut", "gzip-cut", "header-only", "empty", "swapped-magic", "bad-type-code", "extra-byte"],
)
def test_malformed_idx_is_rejected_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "bad-images.gz"
    path.write_bytes(content)
    with pytest.raises(mnist.MnistDataError, match=problem) as err:
        mnist.read_idx(path)
    assert "bad-images.gz" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_image_and_label_files_are_checked_for_mnist_layout(tmp_path):
    (tmp_path / "img").write_bytes(idx_bytes(np.zeros((2, 27, 28))))
    (tmp_path / "lab").write_bytes(idx_bytes(np.array([1, 10])))
    with pytest.raises(mnist.MnistDataError, match="img is not an MNIST image file"):
        mnist.read_images(tmp_path / "img")
    with pytest.raises(mnist.MnistDataError, match="outside 0..9"):
        mnist.read_labels(tmp_path / "lab")


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(mnist.MnistDataError, match="nope.gz cannot be read"):
        mnist.read_idx(tmp_path / "nope.gz")


# ---------------------------------------------------------------- checksums


@needs_shared
@pytest.mark.parametrize("name", sorted(CANONICAL_MD5))
def test_shared_files_have_canonical_md5(name):
    assert mnist.file_md5(SHARED / name) == md5(SHARED / name) == CANONICAL_MD5[name]
    mnist.verify_md5(SHARED / name)


# Byte 5 lies in the gzip header's mtime field: the file still decompresses to valid labels,
# so only the checksum can tell it apart. Byte -100 lies in the compressed stream.
@needs_shared
@pytest.mark.parametrize("position, problem", [(5, "MD5"), (-100, "corrupt")])
def test_flipped_byte_is_detected(tmp_path, position, problem):
    bad = flip_byte(SHARED / TRAIN_LABELS, tmp_path / TRAIN_LABELS, position)
    with pytest.raises(mnist.MnistDataError, match=problem) as err:
        mnist.verify_md5(bad)
    assert TRAIN_LABELS in str(err.value)


# ---------------------------------------------------------------- load_mnist


@needs_shared
def test_full_set_from_mnist_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(link_shared(tmp_path / "full")))
    for source in ("auto", "full"):
        data = mnist.load_mnist(source)
        assert data.source == "full" and data.note is None
        assert data.x_train.shape == (60000, 784) and data.x_val.shape == (10000, 784)
        assert data.y_train.shape == (60000,) and data.y_val.shape == (10000,)
        assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
        assert (
            "60,000" in data.description and str(tmp_path / "full") in data.description
        )
    assert data.y_train[0] == 5 and data.y_val[:5].tolist() == [7, 2, 1, 0, 4]
    assert 0.0 <= data.x_train.min() and data.x_train.max() == 1.0


def test_empty_dir_gives_embedded_without_alarm(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "empty"))
    data = mnist.load_mnist("auto")
    assert data.source == "embedded" and data.note is None
    assert "embedded" in data.description


def test_full_requested_but_absent_falls_back_with_note(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "nowhere"))
    data = mnist.load_mnist("full")
    assert data.source == "embedded" and len(data.y_train) == 8000
    assert f"MNIST_DIR={tmp_path / 'nowhere'}" in data.note and "embedded" in data.note


def test_cache_dir_is_the_default_location(tmp_path):
    assert mnist.full_dir() == tmp_path / "cache" / "optimizer-visualizer" / "mnist"


@needs_shared
def test_truncated_train_file_falls_back_with_note(tmp_path, monkeypatch):
    directory = link_shared(tmp_path / "full", [TRAIN_LABELS, TEST_IMAGES, TEST_LABELS])
    whole = (SHARED / TRAIN_IMAGES).read_bytes()
    (directory / TRAIN_IMAGES).write_bytes(whole[: len(whole) // 2])
    monkeypatch.setenv("MNIST_DIR", str(directory))
    for source in ("auto", "full"):
        data = mnist.load_mnist(source)
        assert data.source == "embedded"
        assert TRAIN_IMAGES in data.note and "truncated" in data.note
        assert str(directory) in data.note


@needs_shared
def test_flipped_byte_in_full_set_falls_back_with_note(tmp_path, monkeypatch):
    directory = link_shared(
        tmp_path / "full", [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES]
    )
    flip_byte(SHARED / TEST_LABELS, directory / TEST_LABELS, 5)
    monkeypatch.setenv("MNIST_DIR", str(directory))
    with pytest.raises(mnist.MnistDataError, match=TEST_LABELS):
        mnist.load_full()
    data = mnist.load_mnist("auto")
    assert data.source == "embedded" and TEST_LABELS in data.note and "MD5" in data.note


@needs_shared
def test_incomplete_full_set_falls_back_naming_missing_files(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(link_shared(tmp_path / "full", [TEST_IMAGES])))
    data = mnist.load_mnist("auto")
    assert data.source == "embedded"
    assert (
        TRAIN_IMAGES in data.note
        and TEST_LABELS in data.note
        and "not found" in data.note
    )


def test_embedded_split_sizes_range_and_determinism():
    data = mnist.load_embedded(n_val=2000, seed=0)
    assert data.source == "embedded" and data.note is None
    assert data.x_train.shape == (8000, 784) and data.x_val.shape == (2000, 784)
    assert data.x_train.dtype == np.float32 and data.y_val.dtype == np.int64
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert set(np.unique(data.y_train)) == set(range(10))
    again = mnist.load_mnist("embedded", n_val=2000, seed=0)
    np.testing.assert_array_equal(again.x_val, data.x_val)
    other = mnist.load_embedded(n_val=2000, seed=1)
    assert not np.array_equal(other.y_val, data.y_val)


def test_default_embedded_split_is_file_order(tmp_path):
    train, val = mnist.embedded_split(10_000, 2000, seed=None)
    np.testing.assert_array_equal(train, np.arange(8000))
    np.testing.assert_array_equal(val, np.arange(8000, 10_000))
    data = mnist.load_embedded()
    images, labels = mnist.read_pair(mnist.EMBEDDED_DIR / TEST_IMAGES, mnist.EMBEDDED_DIR / TEST_LABELS)
    np.testing.assert_array_equal(data.y_val, labels[8000:])
    np.testing.assert_array_equal(data.x_train[:3] * 255, images[:3].reshape(3, 784).astype(np.float32))


def test_embedded_split_indices_are_disjoint_and_complete():
    train, val = mnist.embedded_split(10_000, 2000, seed=0)
    assert len(train) == 8000 and len(val) == 2000
    assert not set(train) & set(val)
    assert sorted(np.concatenate([train, val])) == list(range(10_000))
    np.testing.assert_array_equal(mnist.embedded_split(10_000, 2000, seed=0)[1], val)


@needs_shared
def test_embedded_split_selects_the_t10k_images_it_names():
    data = mnist.load_embedded(n_val=500, seed=3)
    train, val = mnist.embedded_split(10_000, 500, seed=3)
    images = raw_idx(SHARED / TEST_IMAGES, 16).reshape(10_000, 784)
    labels = raw_idx(SHARED / TEST_LABELS, 8)
    np.testing.assert_array_equal(data.x_val * 255, images[val].astype(np.float32))
    np.testing.assert_array_equal(data.y_train, labels[train])


def test_loads_are_memoised_and_read_only():
    data = mnist.load_embedded()
    assert mnist.load_mnist("embedded") is data
    with pytest.raises(ValueError, match="read-only"):
        data.x_train[0, 0] = 1.0


@needs_shared
def test_full_memo_follows_file_changes(tmp_path):
    directory = tmp_path / "full"
    shutil.copytree(SHARED, directory)
    first = mnist.load_full(directory)
    assert mnist.load_full(directory) is first
    flip_byte(SHARED / TEST_LABELS, directory / TEST_LABELS, 5)
    with pytest.raises(mnist.MnistDataError, match="MD5"):
        mnist.load_full(directory)


@pytest.mark.parametrize(
    "kwargs", [{"source": "web"}, {"source": "embedded", "n_val": 10_000}]
)
def test_invalid_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError, match="Invalid"):
        mnist.load_mnist(**kwargs)


# ---------------------------------------------------------------- download


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class ClosesMidFile(BaseHTTPRequestHandler):
    """Promises the 9,912,422 bytes of train-images, sends 1,000, then closes the connection."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "9912422")
        self.end_headers()
        self.wfile.write(b"\0" * 1000)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path | None = None, handler=None):
    """Yield the base URL of an HTTP server on 127.0.0.1 serving `directory` (or `handler`)."""
    handler = handler or functools.partial(QuietFiles, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def refused_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@needs_shared
def test_download_fetches_four_verified_files(tmp_path):
    seen = {}
    with serve(link_shared(tmp_path / "mirror")) as url:
        dest = mnist.download_full(
            tmp_path / "dest",
            mirrors=[url],
            timeout=5,
            progress=lambda name, done, total: seen.__setitem__(name, (done, total)),
        )
    assert sorted(p.name for p in dest.iterdir()) == sorted(CANONICAL_MD5)
    assert leftovers(dest) == []
    assert seen == {n: ((SHARED / n).stat().st_size,) * 2 for n in CANONICAL_MD5}


@needs_shared
def test_download_default_dest_is_where_load_mnist_looks(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "mine"))
    with serve(link_shared(tmp_path / "mirror")) as url:
        assert mnist.download_full(mirrors=[url], timeout=5) == tmp_path / "mine"
    assert mnist.load_mnist("auto").source == "full"


@needs_shared
def test_corrupted_mirror_file_is_rejected_and_not_kept(tmp_path):
    mirror = link_shared(tmp_path / "mirror", [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES])
    flip_byte(SHARED / TEST_LABELS, mirror / TEST_LABELS, 5)
    dest = tmp_path / "dest"
    with serve(mirror) as url, pytest.raises(mnist.MnistDownloadError) as err:
        mnist.download_full(dest, mirrors=[url], timeout=5)
    message = str(err.value)
    assert TEST_LABELS in message and url in message and "MD5" in message
    assert leftovers(dest) == [] and TEST_LABELS not in {p.name for p in dest.iterdir()}


@needs_shared
def test_dead_mirrors_are_skipped(tmp_path):
    (tmp_path / "empty").mkdir()
    with (
        serve(tmp_path / "empty") as missing,
        serve(link_shared(tmp_path / "mirror")) as good,
    ):
        dest = mnist.download_full(
            tmp_path / "dest", mirrors=[refused_url(), missing, good], timeout=5
        )
    assert sorted(p.name for p in dest.iterdir()) == sorted(CANONICAL_MD5)
    assert leftovers(dest) == []


def test_all_mirrors_dead_names_file_and_mirrors(tmp_path):
    (tmp_path / "empty").mkdir()
    dead = refused_url()
    with (
        serve(tmp_path / "empty") as missing,
        pytest.raises(mnist.MnistDownloadError) as err,
    ):
        mnist.download_full(tmp_path / "dest", mirrors=[dead, missing], timeout=5)
    message = str(err.value)
    assert TRAIN_IMAGES in message and dead in message and missing in message
    assert "404" in message and "2 mirror(s)" in message
    assert list((tmp_path / "dest").iterdir()) == []


def test_connection_closed_mid_file_leaves_nothing(tmp_path):
    with (
        serve(handler=ClosesMidFile) as url,
        pytest.raises(mnist.MnistDownloadError) as err,
    ):
        mnist.download_full(tmp_path / "dest", mirrors=[url], timeout=5)
    assert "closed after 1,000 of 9,912,422 bytes" in str(err.value)
    assert list((tmp_path / "dest").iterdir()) == []


class Stop(BaseException):
    """Stands in for KeyboardInterrupt or Streamlit's stop exception."""


@needs_shared
def test_interrupted_download_removes_temp_file(tmp_path):
    def stop(name, done, total):
        raise Stop

    with serve(link_shared(tmp_path / "mirror")) as url, pytest.raises(Stop):
        mnist.download_full(tmp_path / "dest", mirrors=[url], timeout=5, progress=stop)
    assert list((tmp_path / "dest").iterdir()) == []


# The mirror only holds t10k-labels: success proves the three valid files were not fetched again.
@needs_shared
def test_valid_files_are_kept_and_corrupt_ones_replaced(tmp_path):
    dest = link_shared(tmp_path / "dest", [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES])
    flip_byte(SHARED / TEST_LABELS, dest / TEST_LABELS, 5)
    with serve(link_shared(tmp_path / "mirror", [TEST_LABELS])) as url:
        mnist.download_full(dest, mirrors=[url], timeout=5)
    assert sorted(p.name for p in dest.iterdir()) == sorted(CANONICAL_MD5)
    assert leftovers(dest) == []
