// A row of Plotly figures drawn with the page's one copy of Plotly.js (the one the map component
// loads from the plotly package's file under app/static/, ui/plotly_loader.js), so that the page never loads
// Streamlit's own Plotly bundle as well. A figure is drawn again only when the server sends a
// different one (its id); Plotly.react updates it in place. The figures come as the URL of their
// file (ui/static_files.py), fetched once per id and kept (ui/data_files.js), or inline where the
// server could not write it or the browser could not fetch it (asked for: "missing").

const CONFIG = { displaylogo: false, responsive: true, toImageButtonOptions: { format: "png", scale: 2 } };

const SHOWN = new DataFiles("__optvisFigures", 24);  // id -> Promise of {figures}

function figuresOf(data) {
  if (!data.url) {
    SHOWN.keep(data.id, data);
    return Promise.resolve(data);
  }
  return SHOWN.get(data.id, data.url);
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  if (!data) return;
  let root = parentElement.querySelector(".fg-row");
  if (!root) {
    root = document.createElement("div");
    root.className = "fg-row";
    parentElement.appendChild(root);
  }
  // figures sent inline under the id already shown (asked for, or sent with the map's: INLINE_ALL)
  // are drawn unless already drawn, even while their file's fetch is still on its way
  const inlineNew = !data.url && root.dataset.inlineFor !== data.id && root.dataset.ready !== data.id;
  if (root.dataset.id === data.id && !inlineNew) return;
  root.dataset.id = data.id;
  if (!data.url) root.dataset.inlineFor = data.id;
  const ask = (err) => {
    // their file could not be fetched (pruned, or the server restarted): the server's next run
    // sends them inline (ui/figures_component.py); asked once per id, a second failure shows
    if (root.dataset.inlineFor === data.id) return null;  // they came inline meanwhile
    if (!data.url || root.dataset.askedInline === data.id) throw err;
    root.dataset.askedInline = data.id;
    // once the page's run is over: these figures come before the sidebar in the page, so a trigger
    // sent during the run would rerun it with the sidebar's values from before (ui/page_run.js)
    afterTheRun(() => setTriggerValue("missing", data.id));
    return null;
  };
  const call = (root.__draws = (root.__draws || 0) + 1);  // the latest data sent is the one drawn
  Promise.all([figuresOf(data).catch(ask), loadPlotly()]).then(([got, Plotly]) => {
    if (!got || call !== root.__draws) return false;  // asked inline, or later figures arrived meanwhile
    const { figures } = got;
    root.style.gridTemplateColumns = `repeat(${figures.length}, minmax(0, 1fr))`;
    while (root.children.length > figures.length) root.lastChild.remove();
    while (root.children.length < figures.length) root.appendChild(Object.assign(document.createElement("div"), { className: "fg-fig" }));
    return Promise.all(figures.map((fig, i) => Plotly.react(root.children[i], fig.data, { ...fig.layout, autosize: true }, CONFIG)));
  })
    .then((drawn) => {
      if (!drawn || call !== root.__draws) return;
      root.dataset.ready = data.id;
      root.dataset.drawnFrom = data.url ? "file" : "inline";
    })
    .catch((err) => { root.dataset.error = String(err); root.textContent = String(err); });
}
