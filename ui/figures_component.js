// A row of Plotly figures drawn with the page's one copy of Plotly.js (the one the map component
// loads from the plotly package's file under app/static/, ui/plotly_loader.js), so that the page never loads
// Streamlit's own Plotly bundle as well. A figure is drawn again only when the server sends a
// different one (its id); Plotly.react updates it in place.

const CONFIG = { displaylogo: false, responsive: true, toImageButtonOptions: { format: "png", scale: 2 } };

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
  root.style.gridTemplateColumns = `repeat(${data.figures.length}, minmax(0, 1fr))`;
  while (root.children.length > data.figures.length) root.lastChild.remove();
  while (root.children.length < data.figures.length) root.appendChild(Object.assign(document.createElement("div"), { className: "fg-fig" }));
  loadPlotly().then((Plotly) => Promise.all(data.figures.map((fig, i) =>
    Plotly.react(root.children[i], fig.data, { ...fig.layout, autosize: true }, CONFIG))))
    .then(() => { root.dataset.ready = data.id; })
    .catch((err) => { root.dataset.error = String(err); root.textContent = String(err); });
}
