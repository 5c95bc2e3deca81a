"""A new session's first view in Chromium (ui/first_view.py): the map is drawn by a run that
leaves out the rest of the page, the sidebar's controls included, and says so; the map then asks for the run that draws the rest.
Plotly.js is fetched from the page's first element, not when the map's module first runs."""

from __future__ import annotations

from tests.e2e.browser import open_app, wait_until, wait_whole

# From the page's first script on: what the page holds in the frame where the map is first drawn,
# and every change of the script state it saw (the runs are counted from the websocket: script_runs).
WATCH = """(() => {
  window.__firstView = {atMap: null, runs: 0, states: []};
  let state = null, watched = null;
  const note = (now) => {  // every change of the app's script state, not only those a frame sees
    window.__firstView.states.push(now);
    if (now === 'running' && state !== 'running') window.__firstView.runs += 1;
    state = now;
  };
  const poll = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (app && app !== watched) {
      watched = app;
      note(app.getAttribute('data-test-script-state'));
      new MutationObserver(() => note(app.getAttribute('data-test-script-state'))).observe(
        app, {attributes: true, attributeFilter: ['data-test-script-state']});
    }
    const root = document.querySelector('.ov-root');
    if (window.__firstView.atMap === null && root && root.dataset.ready) {
      window.__firstView.atMap = {pending: document.querySelector('.st-key-rest_pending') !== null,
                                  results: document.body.innerText.includes('Update rules, as implemented'),
                                  controls: !!document.querySelector('[data-testid="stSidebar"] [data-testid="stSelectbox"]'),
                                  text: (document.querySelector('.st-key-rest_pending') || {}).innerText || ''};
    }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
})();"""


def script_runs(frames: list) -> int:
    """How many script runs the server started: the new_session messages among the websocket's
    frames received (a run's first message). The page's script-state attribute can miss a run: under
    load its 'running' and 'notRunning' may come in one render."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    return sum(ForwardMsg.FromString(f).WhichOneof("type") == "new_session" for f in frames if isinstance(f, bytes))


def test_a_new_session_draws_the_map_first_and_the_rest_after_it(page, app_url):
    page.add_init_script(WATCH)
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    open_app(page, app_url)
    seen = page.evaluate("() => window.__firstView")
    assert seen["atMap"] == {"pending": True, "results": False, "controls": False,
                             "text": "The controls, the theory panel, the sweeps, the results, the update rules and"
                                     " the code follow as soon as the map is drawn…"}
    # the rest is there now, the note gone: two runs in all (the first view, then the whole page)
    body = page.inner_text("body")
    assert "Update rules, as implemented" in body and "Share and export" in body
    side = page.get_by_test_id("stSidebar")
    assert side.get_by_text("Teacher presets").first.is_visible() and side.get_by_label("lr (exact)").count() == 5
    assert page.locator(".st-key-rest_pending").count() == 0
    assert script_runs(frames) == 2, seen["states"]
    # Plotly.js was asked for before the map's component module ran
    fetched = page.evaluate("""() => performance.getEntriesByType('resource')
        .filter(e => e.name.endsWith('/app/static/plotly.min.js')).map(e => e.startTime)""")
    assert len(fetched) == 1 and fetched[0] <= page.evaluate("() => window.__optvisReceived")


def test_the_whole_page_comes_at_once_after_the_first_run(page, app_url):
    """A rerun of a session that has had its first view (a click on the map) draws the whole page:
    the note never shows again."""
    open_app(page, app_url)
    page.evaluate("""() => { window.__noteSeen = false;
        new MutationObserver(() => { if (document.querySelector('.st-key-rest_pending')) window.__noteSeen = true; })
            .observe(document.body, {childList: true, subtree: true}); }""")
    page.evaluate("() => window.__optvisMapView.trigger('click', {x: 0.5, y: 0.5})")
    wait_until(lambda: page.get_by_label("x", exact=True).first.input_value(), lambda v: float(v) == 0.5, "the clicked start")
    wait_whole(page)
    assert page.evaluate("() => window.__noteSeen") is False
    assert "Update rules, as implemented" in page.inner_text("body")
