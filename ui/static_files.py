"""JSON files that the browser fetches from static/ (served at app/static/, ui/assets.py).

The drag preview's entries, the map's run data and the results charts are the same for every
rerun and every session that shows the same setup: sent inline, about two megabytes travelled
with every rerun. Published here once, each is fetched once per page and kept by the browser
(ui/data_files.js, used by ui/map_preview.js, ui/map_component.js and ui/figures_component.js);
where the browser cannot fetch a run's file or a row of charts (pruned, or written by a server
that has since restarted), the component asks for it and its next run sends it inline. Names carry this process's
token, so that a restarted server never serves what an older version wrote; at most MAX_FILES
files and MAX_BYTES are kept, the oldest removed first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from .assets import STATIC

FOLDER = STATIC / "data"
URL = "app/static/data/"  # relative to the app's root, as the page's other static files
MODULES = STATIC / "modules"
MODULES_URL = "app/static/modules/"
MAX_FILES = 4000
MAX_BYTES = 200_000_000  # a surface slider's entry is about 0.3 MB, an optimizer slider's 20 KB, a run's map 0.7 MB
PRUNE_EVERY = 200  # files written between two looks at how many there are
TOKEN = secrets.token_hex(4)
# A session-state key, set by any component's "missing" callback and cleared at the end of the page's
# run (ui/map_component.end_run): that run sends the map and the charts inline. Two components'
# triggers sent together can be merged into one rerun that keeps only one of them; so each asks for both.
INLINE_ALL = "files.inline_all"
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
        _write(target, lambda out: json.dump(make(), out, separators=(",", ":")))
    except OSError as exc:
        log.warning("cannot write %s (%s): its data goes inline", target, exc)
        return None
    with _LOCK:
        _WRITES[0] += 1
        due = _WRITES[0] % PRUNE_EVERY == 0
    if due:
        prune(folder)
    return URL + file


def _write(target: Path, write: Callable[[TextIO], Any]) -> None:
    """target's content written by write(file), whole or not at all (a reader never sees half)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            write(out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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


DATA_FILES_JS = Path(__file__).parent / "data_files.js"


def with_data_files(source: str) -> str:
    """A component's JS (`source`) with ui/data_files.js (the page's fetch-once store of these
    files, class DataFiles) before it, for the components that fetch what publish wrote."""
    return DATA_FILES_JS.read_text() + "\n" + source


# A component's module, loaded once per page: Streamlit sends a custom component's JS with every
# instance on every rerun (the 24 live sliders: 24 copies, about 100 KB a rerun). STUB is what
# travels instead; it imports the module from its file and hands each call to it.
STUB = """// {name}: its module from the app's static files (ui/static_files.py module_stub), once per page
const SRC = {src};
let ready = null, loaded = null;
export default function (component) {{
  if (ready) return ready.default(component);
  const base = new URL(window.location.pathname.replace(/[^/]*$/, ""), window.location.origin);
  loaded = loaded || import(new URL(SRC, base).href).then((m) => (ready = m));
  let cleanup = null, over = false;
  loaded.then((m) => {{ if (!over) cleanup = m.default(component); }});
  return () => {{ over = true; if (typeof cleanup === "function") cleanup(); }};
}}
"""


def module_stub(name: str, source: str, folder: Path = MODULES) -> str:
    """A component's JS (`source`, an ES module whose default export is the component) as a stub
    of a few hundred bytes that imports it from a file written here, named by its content (so a
    changed module is never served from an old file); `source` itself when the file cannot be
    written."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,60}", name):
        raise ValueError(f"name: letters, digits, '-' and '_' only (1 to 60 of them), got {name!r}")
    file = f"{name}-{hashlib.sha256(source.encode()).hexdigest()[:16]}.js"
    target = folder / file
    if not target.is_file():
        try:
            _write(target, lambda out: out.write(source))
        except OSError as exc:
            log.warning("cannot write %s (%s): the component's JS goes inline", target, exc)
            return source
    return STUB.format(name=name, src=json.dumps(MODULES_URL + file))
