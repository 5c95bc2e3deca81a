"""Files the browser loads from this server, so the app works offline.

The map component draws with the Plotly.js that the `plotly` package ships. Streamlit serves
the `static/` folder beside app.py at /app/static/ (server.enableStaticServing in
.streamlit/config.toml); `ensure_plotly_js` puts a copy of the package's plotly.min.js there,
once per process, atomically (several server processes may start at once).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

import plotly

STATIC = Path(__file__).resolve().parents[1] / "static"
PLOTLY_JS = Path(plotly.__file__).with_name("package_data") / "plotly.min.js"
_LOCK = threading.Lock()
_READY: list[bool] = []
log = logging.getLogger(__name__)


def ensure_plotly_js(static: Path = STATIC) -> bool:
    """Whether static/plotly.min.js is the plotly package's copy (copying it there if not)."""
    with _LOCK:
        if _READY:
            return _READY[0]
        _READY.append(_copy(static))
        return _READY[0]


def _copy(static: Path) -> bool:
    target = static / "plotly.min.js"
    try:
        if target.is_file() and target.stat().st_size == PLOTLY_JS.stat().st_size:
            return True
        static.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=static, prefix=".plotly-", suffix=".tmp")
        os.close(fd)
        try:
            shutil.copyfile(PLOTLY_JS, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return True
    except OSError as exc:
        log.warning("cannot place plotly.min.js in %s (%s): the map falls back to server-drawn charts", static, exc)
        return False


def component_js(path: Path) -> str:
    """A component's JS module (path) with ui/plotly_loader.js's loadPlotly() before it, for the
    components that draw with Plotly.js."""
    return (Path(__file__).parent / "plotly_loader.js").read_text() + "\n" + path.read_text()


def with_page_run(source: str) -> str:
    """A component's JS (`source`) with ui/page_run.js's afterTheRun(fn) before it, for the
    components that send a trigger of their own accord (not at a click): it waits for the page's
    script run to be over."""
    return (Path(__file__).parent / "page_run.js").read_text() + "\n" + source
