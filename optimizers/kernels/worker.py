"""Compile kernel modules in a process of their own: `python -m optimizers.kernels.worker DIR STAGE KEY...`.

For each key: take the key's lock (two processes never compile the same key at once), copy
DIR/k_KEY.py into the staging folder STAGE (keeping its modification time, which Numba's cache
index records), import it there so that Numba compiles every function into STAGE/__pycache__,
move those cache files into DIR/__pycache__, and write DIR/k_KEY.ready (the files and their
SHA-256) last. A key whose compile raises gets DIR/k_KEY.failed with the traceback, and an
entry in DIR/compile.log. The caller removes STAGE; a worker ended midway leaves nothing in DIR.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import shutil
import sys
import traceback
from pathlib import Path

from optimizers.kernels.cache import cache_files, file_digest, import_module


def compile_key(directory: Path, stage: Path, key: str) -> None:
    """Compile one key (see the module docstring); raises what the compile raised."""
    with open(directory / f"k_{key}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = directory / f"k_{key}.ready"
        if marker.exists() or (directory / f"k_{key}.failed").exists():
            return
        stage.mkdir(parents=True, exist_ok=True)
        staged = stage / f"k_{key}.py"
        shutil.copy2(directory / f"k_{key}.py", staged)
        import_module(staged, key)
        (directory / "__pycache__").mkdir(exist_ok=True)
        files = {}
        for path in cache_files(stage, key):
            files[path.name] = file_digest(path)
            os.replace(path, directory / "__pycache__" / path.name)
        tmp = marker.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"files": files}))
        os.replace(tmp, marker)


def record_failure(directory: Path, key: str, details: str) -> None:
    (directory / f"k_{key}.failed").write_text(details)
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    with open(directory / "compile.log", "a") as log:
        log.write(f"{stamp} kernel {key} failed to compile:\n{details}\n")


def main(argv: list[str]) -> int:
    directory, stage, keys = Path(argv[0]), Path(argv[1]), argv[2:]
    status = 0
    for key in keys:
        try:
            compile_key(directory, stage, key)
        except Exception:  # noqa: BLE001 - every failure is recorded for the caller
            record_failure(directory, key, traceback.format_exc())
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
