// A row of Plotly figures drawn with the page's one copy of Plotly.js (the one the map component
// loads from the plotly package's file under app/static/, ui/plotly_loader.js), so that the page never loads
// Streamlit's own Plotly bundle as well. A figure is drawn again only when the server sends a
// different one (its id); Plotly.react updates it in place. The figures come as the URL of their
// file (ui/static_files.py), fetched once per id and kept, or inline where the server could not
// write it.

const CONFIG = { displaylogo: false, responsive: true, toImageButtonOptions: { format: "png", scale: 2 } };

const SHOWN = (window.__optvisFigures = window.__optvisFigures || new Map());  // id -> Promise of {figures}
const SHOWN_KEPT = 24;

function figuresOf(data) {
  if (!data.url) return Promise.resolve(data);
  let got = SHOWN.get(data.id);
  if (!got) {
    const base = window.location.pathname.replace(/[^/]*$/, "");
    got = fetch(base + data.url).then((r) => {
      if (!r.ok) throw new Error(`${data.url}: HTTP ${r.status}`);
      return r.json();
    });
    got.catch(() => SHOWN.delete(data.id));  // tried again when these figures come again
  }
  SHOWN.delete(data.id);
  SHOWN.set(data.id, got);
  while (SHOWN.size > SHOWN_KEPT) SHOWN.delete(SHOWN.keys().next().value);
  return got;
}

export default function (component) {
  const { data, parentElement } = component;
  if (!data) return;
  let root = parentElement.querySelector(".fg-row");
  if (!root) {
    root = document.createElement("div");
    root.className = "fg-row";
    parentElement.appendChild(root);
  }
  if (root.dataset.id === data.id) return;
  root.dataset.id = data.id;
  Promise.all([figuresOf(data), loadPlotly()]).then(([{ figures }, Plotly]) => {
    if (root.dataset.id !== data.id) return false;  // later figures arrived meanwhile
    root.style.gridTemplateColumns = `repeat(${figures.length}, minmax(0, 1fr))`;
    while (root.children.length > figures.length) root.lastChild.remove();
    while (root.children.length < figures.length) root.appendChild(Object.assign(document.createElement("div"), { className: "fg-fig" }));
    return Promise.all(figures.map((fig, i) => Plotly.react(root.children[i], fig.data, { ...fig.layout, autosize: true }, CONFIG)));
  })
    .then((drawn) => { if (drawn && root.dataset.id === data.id) root.dataset.ready = data.id; })
    .catch((err) => { root.dataset.error = String(err); root.textContent = String(err); });
}
