"""A Streamlit session without a browser: a websocket client of /_stcore/stream speaking the
server's protobuf (BackMsg out, ForwardMsg in), as Streamlit's own load tests do.

    async with Session(url, query_string) as s:
        run = await s.rerun()                       # the page as the link opens it
        run = await s.rerun({steps_widget_id: 300})  # a widget changed
        run = await s.rerun(click=train_button_id)       # a button pressed

Like the browser, the session keeps the value of every widget it was sent and returns all of
them with each rerun request (a request carrying only the changed widget is not what the page
expects: widgets missing from it count as not drawn). A Run holds what one script run sent: its
elements (protobuf), its duration from the request to script_finished, and helpers to find the
Plotly figures and widgets in it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.WidgetStates_pb2 import WidgetState

from ui import static_files

MAX_MESSAGE = 200 * 2**20  # the page's figures arrive in messages of a few MB at most


def plotly_array(value) -> np.ndarray:
    """A Plotly JSON array: a list, or {"dtype", "bdata"} (base64 typed array)."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.array(value, dtype=float)


@dataclass
class Run:
    """One script run as the client saw it."""

    seconds: float  # from sending the rerun request to receiving script_finished
    status: str  # the ScriptFinishedStatus name
    elements: list = field(default_factory=list)  # Element protobufs, in arrival order

    def of_type(self, kind: str) -> list:
        return [getattr(e, kind) for e in self.elements if e.WhichOneof("type") == kind]

    def figures(self) -> list[dict]:
        """Streamlit's Plotly charts and the figures ui/figures_component draws (the results charts)."""
        ours = [static_files.resolved(json.loads(c.json))["figures"] for c in self.of_type("bidi_component")
                if c.component_name == "optvis_figures"]
        return [json.loads(chart.spec) for chart in self.of_type("plotly_chart")] + [f for row in ours for f in row]

    def map_figure(self) -> dict:
        """The 2-D page's map: the map component's figure, or the server-drawn figure with the
        click grid."""
        maps = [c for c in self.of_type("bidi_component") if c.component_name == "optvis_map"]
        if maps:
            assert len(maps) == 1, f"{len(maps)} maps in the run"
            data = json.loads(maps[0].json if maps[0].WhichOneof("data") == "json" else maps[0].mixed.json)
            return static_files.resolved(data)["map"]  # the server's files, on this machine's disk
        specs = [chart.spec for chart in self.of_type("plotly_chart") if '"role":"click"' in chart.spec.replace(" ", "")]
        found = [f for f in map(json.loads, specs) if any(t.get("meta", {}).get("role") == "click" for t in f["data"])]
        assert len(found) == 1, f"{len(found)} maps in the run"
        return found[0]

    def widget_id(self, kind: str, label: str, key: str = "") -> str:
        """The id of the one `kind` widget labelled `label` whose id ends with `key` (its user key's tail)."""
        found = [w.id for w in self.of_type(kind) if w.label == label and w.id.endswith(key)]
        assert len(found) == 1, f"{len(found)} {kind} widgets labelled {label!r} with a key ending {key!r}"
        return found[0]

    def errors(self) -> list[str]:
        """Exceptions, and alerts shown as errors."""
        shown = [f"exception: {e.type}: {e.message}" for e in self.of_type("exception")]
        return shown + [f"error: {a.body}" for a in self.of_type("alert") if a.format == a.ERROR]


def _widget_state(kind: str, widget, value) -> WidgetState | None:
    """The WidgetState the frontend sends for a widget holding `value` (None: nothing to send)."""
    ws = WidgetState(id=widget.id)
    if kind == "selectbox":
        if not value:
            return None
        ws.string_value = value
    elif kind == "slider" and widget.options:  # st.select_slider: the formatted option(s)
        ws.string_array_value.data[:] = list(value)
    elif kind == "slider":
        ws.double_array_value.data[:] = list(value)
    elif kind == "number_input":
        if widget.data_type == NumberInput.INT:
            ws.int_value = int(value)
        else:
            ws.double_value = float(value)
    elif kind == "checkbox":
        ws.bool_value = bool(value)
    elif kind == "button_group":
        ws.string_array_value.data[:] = list(value)
    else:  # buttons (triggers), charts' selections, downloads: nothing to keep
        return None
    return ws


def _shown_value(kind: str, widget):
    """The value a widget element tells the frontend to show: its `value` when the script set it,
    else its default."""
    if kind == "selectbox":
        return widget.raw_value if widget.set_value or widget.raw_value else (
            widget.options[widget.default] if widget.options else "")
    if kind == "slider" and widget.options:
        return list(widget.raw_value) if widget.set_value else [widget.options[int(i)] for i in widget.default]
    if kind == "slider":
        return list(widget.value) if widget.set_value else list(widget.default)
    if kind == "button_group":
        return list(widget.raw_values)
    if kind in ("number_input", "checkbox"):
        return widget.value if widget.set_value else widget.default
    return None


class Session:
    """One browser-less session of the app (the same protocol as the page's websocket)."""

    def __init__(self, url: str, query_string: str = "", timeout: float = 120.0,
                 headers: dict[str, str] | None = None, page_name: str = ""):
        self.uri = url.replace("http://", "ws://") + "/_stcore/stream"
        self.query_string = query_string
        self.timeout = timeout
        self.headers = headers or {}  # e.g. the Cookie a browser sends with its websocket
        self.page_name = page_name  # a page's url_path ("mnist_page"); "" the default page
        self.page_script_hash = ""
        self.session_id = ""  # the server's id of this session, from its new_session message
        self.fragments: dict[str, float] = {}  # fragment id -> the run_every interval it asked for
        self.ws: Any = None
        self.widgets: dict[str, tuple[str, Any, Any]] = {}  # id -> (kind, element, value shown)

    async def __aenter__(self) -> Session:
        self.ws = await websockets.connect(self.uri, subprotocols=["streamlit"], max_size=MAX_MESSAGE,
                                           open_timeout=self.timeout, compression=None,
                                           additional_headers=self.headers)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def rerun(self, changes: dict[str, Any] | None = None, *, click: str = "", fragment_id: str = "") -> Run:
        """Request a run with every widget's value, `changes` ({id: value}) applied, and wait for its end.

        Values as the widget holds them: a number, a bool, an option's text, a list for sliders.
        click: the id of a button pressed for this run; fragment_id: rerun that fragment only, as
        the browser does every run_every seconds (the ids are in `fragments`).
        """
        for widget_id, value in (changes or {}).items():
            kind, widget, _ = self.widgets[widget_id]
            self.widgets[widget_id] = (kind, widget, value)
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query_string
        state.page_script_hash = self.page_script_hash
        state.page_name = self.page_name
        state.fragment_id = fragment_id
        state.is_auto_rerun = bool(fragment_id)
        for kind, widget, value in self.widgets.values():
            ws = _widget_state(kind, widget, value)
            if ws is not None:
                state.widget_states.widgets.append(ws)
        if click:
            state.widget_states.widgets.append(WidgetState(id=click, trigger_value=True))
        started = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        return await asyncio.wait_for(self._read_run(started), self.timeout)

    async def clear_cache(self) -> None:
        """Send what the menu's "Clear caches" sends (any client may, whatever the toolbar mode): the
        server empties st.cache_data, st.cache_resource and this session's state."""
        msg = BackMsg()
        msg.clear_cache = True
        await self.ws.send(msg.SerializeToString())

    async def deferred_file(self, file_id: str) -> str:
        """Ask for a deferred download's file as the page does when its button is clicked: the
        path it is then served at (/media/...), by the process of this session."""
        msg = BackMsg()
        msg.backend_operation_request.request_id = file_id
        msg.backend_operation_request.session_id = self.session_id
        msg.backend_operation_request.deferred_file.file_id = file_id
        await self.ws.send(msg.SerializeToString())

        async def response() -> str:
            while True:
                fm = ForwardMsg()
                fm.ParseFromString(await self.ws.recv())
                if fm.WhichOneof("type") == "backend_operation_response":
                    reply = fm.backend_operation_response
                    assert not reply.error_msg, reply.error_msg
                    return reply.deferred_file.url

        return await asyncio.wait_for(response(), self.timeout)

    async def _read_run(self, started: float) -> Run:
        elements = []
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await self.ws.recv())
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                self.page_script_hash = fm.new_session.page_script_hash
                self.session_id = fm.new_session.initialize.session_id
            elif kind == "navigation":  # the page st.navigation ran: the browser asks for it by this hash
                self.page_script_hash = fm.navigation.page_script_hash
            elif kind == "auto_rerun":
                self.fragments[fm.auto_rerun.fragment_id] = fm.auto_rerun.interval
            elif kind == "page_info_changed":
                self.query_string = fm.page_info_changed.query_string
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                element = fm.delta.new_element
                elements.append(element)
                self._see(element)
            elif kind == "script_finished":
                status = ForwardMsg.ScriptFinishedStatus.Name(fm.script_finished)
                if status != "FINISHED_EARLY_FOR_RERUN":
                    return Run(time.perf_counter() - started, status, elements)
                elements = []

    def _see(self, element) -> None:
        """Keep the value a widget shows: a new widget's, or one the script set."""
        kind = element.WhichOneof("type")
        widget = getattr(element, kind)
        if not getattr(widget, "id", ""):
            return
        known = self.widgets.get(widget.id)
        value = _shown_value(kind, widget)
        if known is not None and not getattr(widget, "set_value", False):
            value = known[2]
        self.widgets[widget.id] = (kind, widget, value)
