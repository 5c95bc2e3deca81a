"""JSON files that the browser fetches from static/ (served at app/static/, ui/assets.py).

The drag preview's entries, the map's run data and the results charts are the same for every
rerun and every session that shows the same setup: sent inline, about two megabytes travelled
with every rerun. Published here once, each is fetched once per page and kept by the browser
(ui/map_preview.js, ui/map_component.js, ui/figures_component.js). Names carry this process's
token, so that a restarted server never serves what an older version wrote; at most MAX_FILES
files and MAX_BYTES are kept, the oldest removed first.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .assets import STATIC

FOLDER = STATIC / "data"
URL = "app/static/data/"  # relative to the app's root, as the page's other static files
MAX_FILES = 4000
MAX_BYTES = 200_000_000  # a surface slider's entry is about 0.3 MB, an optimizer slider's 20 KB, a run's map 0.7 MB
PRUNE_EVERY = 200  # files written between two looks at how many there are
TOKEN = secrets.token_hex(4)
_LOCK = threading.Lock()
_WRITES = [0]
log = logging.getLogger(__name__)


def publish(name: str, make: Callable[[], Any], folder: Path = FOLDER) -> str | None:
    """The URL (relative to the app's root) of the file holding make() as JSON, under `name`
    (letters, digits, '-' and '_'); written unless already there. None when the folder cannot
    be written: the caller then sends the data itself."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", name):
        raise ValueError(f"name: letters, digits, '-' and '_' only (1 to 100 of them), got {name!r}")
    file = f"{TOKEN}-{name}.json"
    target = folder / file
    if target.is_file():
        return URL + file
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(make(), out, separators=(",", ":"))
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        log.warning("cannot write %s (%s): its data goes inline", target, exc)
        return None
    with _LOCK:
        _WRITES[0] += 1
        due = _WRITES[0] % PRUNE_EVERY == 0
    if due:
        prune(folder)
    return URL + file


def prune(folder: Path = FOLDER, keep: int = MAX_FILES, max_bytes: int = MAX_BYTES) -> None:
    """Remove the oldest .json files of `folder` (any process's) beyond the `keep` newest or
    beyond `max_bytes` together."""
    try:
        files = sorted(((p.stat(), p) for p in folder.glob("*.json")), key=lambda f: f[0].st_mtime, reverse=True)
    except OSError:  # another process removed one while this one looked
        return
    total = 0
    for i, (stat, path) in enumerate(files):
        total += stat.st_size
        if i >= keep or total > max_bytes:
            try:
                path.unlink()
            except OSError:
                pass


def read(url: str, folder: Path = FOLDER) -> Any:
    """The data of the file `url` names (as publish returned it), for tests and tools that read
    what a page was sent."""
    if not url.startswith(URL) or not re.fullmatch(r"[A-Za-z0-9_-]+\.json", url[len(URL):]):
        raise ValueError(f"url: a URL that publish returned ({URL}<name>.json), got {url!r}")
    return json.loads((folder / url[len(URL):]).read_text())


def resolved(data: dict, folder: Path = FOLDER) -> dict:
    """A component's data as the browser uses it: `data` with its file's data under it when it
    names one (`url`, ui/map_component.py by_file), else `data` itself."""
    return {**read(data["url"], folder), **data} if "url" in data else data
