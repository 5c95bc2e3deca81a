// Plotly.js for the page's components, from the copy the plotly package ships (ui/assets.py puts
// it under app/static/): one script element and one promise for the whole page. Prepended to each
// component's module by ui/assets.component_js.

const PLOTLY_SRC = "app/static/plotly.min.js";

function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__optvisPlotly) {
    window.__optvisPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = window.location.pathname.replace(/[^/]*$/, "") + PLOTLY_SRC;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => reject(new Error("plotly.min.js could not be loaded from " + script.src));
      document.head.appendChild(script);
    });
  }
  return window.__optvisPlotly;
}
