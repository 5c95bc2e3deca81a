// The drag preview's entries (ui/preview.py), handed to the map's view once it shows that run.
// An entry comes as {basis, url}: its file (ui/static_files.py) is fetched once per page and kept
// by basis while the page's preview lists it; or inline, where the server could not write it.
const store = (window.__optvisEntries = window.__optvisEntries || new Map());

function load(ref) {
  if (!ref.url) return Promise.resolve(ref);
  if (!store.has(ref.basis)) {
    const base = window.location.pathname.replace(/[^/]*$/, "");
    store.set(ref.basis, fetch(base + ref.url).then((r) => (r.ok ? r.json() : null)).catch(() => null));
  }
  return store.get(ref.basis);
}

export default function (component) {
  const { data } = component;
  if (!data) return;
  const seq = (window.__optvisPreviewSeq = (window.__optvisPreviewSeq || 0) + 1);
  const listed = new Set(data.entries.map((e) => e.basis));
  for (const basis of [...store.keys()]) if (!listed.has(basis)) store.delete(basis);
  Promise.all(data.entries.map(load)).then((entries) => {
    if (seq !== window.__optvisPreviewSeq) return;  // a later preview arrived meanwhile
    window.__optvisPreview = { run: data.run, entries: entries.filter(Boolean) };
    const view = window.__optvisMapView;
    if (view && view.dataId === data.run && view.frames) { view.buildPreview(window.__optvisPreview.entries); view.keepPicked(); }
  });
}
