// The drag preview's entries (ui/preview.py), handed to the map's view once it shows that run.
// An entry comes as {basis, url}: its file (ui/static_files.py) is fetched once per page and kept
// by basis (ui/data_files.js) while the page's preview lists it; or inline, where the server
// could not write it. An entry whose file cannot be fetched is left out (not previewed).
// The sliders in `lazy` have no entry yet: when the pointer or the focus comes to one (the live
// slider's "optvis:want" event), the "want" trigger asks the server for it, once per run.
const store = new DataFiles("__optvisEntries", Infinity);

function load(ref) {
  return ref.url ? store.get(ref.basis, ref.url).catch(() => null) : Promise.resolve(ref);
}

function onWant(event) {
  const wants = window.__optvisPreviewWants, id = event.detail && event.detail.id;
  if (!wants || !wants.lazy.has(id) || wants.asked.has(id)) return;
  wants.asked.add(id);
  const send = () => { if (window.__optvisPreviewWants === wants) wants.trigger("want", { id, run: wants.run }); };
  if (pageRunning()) afterTheRun(send);  // not during a run: its rerun would undo that run's callbacks
  else send();
}

export default function (component) {
  const { data, setTriggerValue } = component;
  if (!data) return;
  const seq = (window.__optvisPreviewSeq = (window.__optvisPreviewSeq || 0) + 1);
  window.__optvisPreviewWants = { run: data.run, lazy: new Set(data.lazy || []), asked: new Set(), trigger: setTriggerValue };
  if (!window.__optvisWantListener) {
    window.__optvisWantListener = onWant;
    window.addEventListener("optvis:want", onWant);
  }
  const listed = new Set(data.entries.map((e) => e.basis));
  for (const basis of [...store.cache.keys()]) if (!listed.has(basis)) store.cache.delete(basis);
  Promise.all(data.entries.map(load)).then((entries) => {
    if (seq !== window.__optvisPreviewSeq) return;  // a later preview arrived meanwhile
    window.__optvisPreview = { run: data.run, entries: entries.filter(Boolean) };
    const view = window.__optvisMapView;
    if (view && view.dataId === data.run && view.frames) { view.buildPreview(window.__optvisPreview.entries); view.keepPicked(); }
  });
}
