// Starts loading Plotly.js (ui/plotly_loader.js) as soon as the page's first elements arrive, so
// that the 3.5 MB script is fetched and parsed while the server still computes the map's data.
export default function () {
  loadPlotly().catch(() => {});  // a failure is reported by the map, which loads it again
}
