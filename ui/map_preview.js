// The drag preview's entries (ui/preview.py): handed to the map's view once it shows that run.
export default function (component) {
  const { data } = component;
  if (!data) return;
  window.__optvisPreview = data;
  const view = window.__optvisMapView;
  if (view && view.dataId === data.run && view.frames) { view.buildPreview(data.entries); view.keepPicked(); }
}
