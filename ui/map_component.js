// The map component: map, effective-lr and loss charts, playback, internals and the lr preview,
// all in the browser. The server names a run's data (plots/playback_data.py) by id and the URL of
// its file (ui/static_files.py), fetched once per id and kept (`runData`), or inline where the
// file cannot be fetched (the view asks for it: "missing"); playing, scrubbing and previewing
// never ask it again. Figures are updated in place: Plotly.react when a
// new run arrives, Plotly.restyle of the cursor and arrow traces and Plotly.relayout of the
// charts' step lines on every frame.

const DTYPES = { f8: Float64Array, f4: Float32Array, i4: Int32Array, i2: Int16Array, i1: Int8Array,
                 u1: Uint8Array, u2: Uint16Array, u4: Uint32Array };
const CONFIG = { displaylogo: false, responsive: true, toImageButtonOptions: { format: "png", scale: 2 } };
const PLAY_SECONDS = 10;
const SVG = (d) => `<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="${d}" fill="currentColor"/></svg>`;
const ICONS = {
  play: SVG("M8 5v14l11-7z"), pause: SVG("M6 5h4v14H6zm8 0h4v14h-4z"),
  first: SVG("M6 6h2v12H6zm3.5 6 8.5 6V6z"), back: SVG("M15.4 7.4 14 6l-6 6 6 6 1.4-1.4-4.6-4.6z"),
  next: SVG("M8.6 16.6 10 18l6-6-6-6-1.4 1.4 4.6 4.6z"), last: SVG("M16 6h2v12h-2zm-2 6L5.5 6v12z"),
};  // a whole run plays in this many seconds at speed 1x

// The runs' data fetched, by id (ui/data_files.js), the most recently shown last: a rerun for the
// same run, or a return to an earlier one, fetches nothing.
const RUNS = new DataFiles("__optvisRuns", 24);

function runData(sent) {
  // The run's whole data: `sent` itself when it came inline (the server could not write the
  // file, or the browser could not fetch it), else its file's content with `sent`'s own fields
  // (id, url, sliders) over it.
  if (!sent.url) {
    RUNS.keep(sent.id, sent);
    return Promise.resolve(sent);
  }
  return RUNS.get(sent.id, sent.url).then((data) => ({ ...data, ...sent }));
}

function decode(value) {
  // Plotly's typed-array form {dtype, bdata[, shape]} -> a typed array; anything else as it is.
  if (!value || typeof value !== "object" || !("bdata" in value)) return value;
  const bytes = Uint8Array.from(atob(value.bdata), (c) => c.charCodeAt(0));
  return new DTYPES[value.dtype](bytes.buffer);
}

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  const text = Number(v.toPrecision(4)).toString();
  return text.includes("e") ? Number(v).toExponential(3).replace("e", "·10^") : text;
}

function vec(a, i) {
  return a ? [a[2 * i], a[2 * i + 1]] : null;
}

function vtext(v) {
  return v && !Number.isNaN(v[0]) ? `(${fmt(v[0])}, ${fmt(v[1])})` : "—";
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function fill(template, values) {
  // a catalogue template (ui/locales, sent as data.text) with its {name} fields filled
  return String(template).replace(/\{(\w+)\}/g, (whole, name) => (values && name in values ? String(values[name]) : whole));
}

function shortNumber(v, scale) {
  // a coordinate in a few characters, as plots/contour.py short_number writes it: -5.2e5, 1.23, 0
  if (Math.abs(v) < 1e-6 * (scale || 0)) return "0";
  if (v !== 0 && !(Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4)) return v.toExponential(1).replace("e+", "e");
  return String(Number(v.toPrecision(3)));
}

function setText(el, text) {
  // el's words changed in place, as its one text node's data: a new text node (textContent, innerHTML)
  // is an insertion that Streamlit's :has() rules on .stApp answer with a restyle of the whole page,
  // 10 to 20 ms of every frame of a drag
  const node = el.firstChild;
  if (node && node === el.lastChild && node.nodeType === Node.TEXT_NODE) {
    if (node.data !== text) node.data = text;
  } else if (el.textContent !== text) {
    el.textContent = text;
  }
}

function setShown(root, shown) {
  // root's data-shown, written only when it changes: a write of an attribute of the root restyles
  // the whole page (Streamlit's :has() rules)
  if (root.dataset.shown !== shown) root.dataset.shown = shown;
}

const scratch = document.createElement("template");

function setHtml(el, html) {
  // el's content as `html`: parsed off the page, and where it has the same elements as what el
  // shows (a playback frame's table: the same rows, other numbers) only its text nodes' data
  // changed, in place (see setText); replaced whole when its elements differ
  if (el.__optvisHtml === html) return;
  el.__optvisHtml = html;
  scratch.innerHTML = html;
  if (sameElements(el, scratch.content)) copyText(el, scratch.content);
  else el.replaceChildren(...scratch.content.childNodes);
}

function copyText(live, fresh) {
  // fresh's text into live's text nodes, the two trees having the same elements (sameElements)
  const a = live.childNodes, b = fresh.childNodes;
  for (let i = 0; i < a.length; i++) {
    if (a[i].nodeType === Node.TEXT_NODE) {
      if (a[i].data !== b[i].data) a[i].data = b[i].data;
    } else if (a[i].nodeType === Node.ELEMENT_NODE) copyText(a[i], b[i]);
  }
}

function sameElements(live, fresh) {
  const a = live.childNodes, b = fresh.childNodes;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].nodeType !== b[i].nodeType) return false;
    if (a[i].nodeType !== Node.ELEMENT_NODE) continue;
    if (a[i].tagName !== b[i].tagName || a[i].attributes.length !== b[i].attributes.length) return false;
    for (const attr of b[i].attributes) if (a[i].getAttribute(attr.name) !== attr.value) return false;
    if (!sameElements(a[i], b[i])) return false;
  }
  return true;
}

function localize(root, tr) {
  // the words of the DOM that buildDom names by key: text, title and aria-label
  for (const el of root.querySelectorAll("[data-t]")) el.textContent = tr(el.dataset.t);
  for (const el of root.querySelectorAll("[data-t-title]")) el.title = tr(el.dataset.tTitle);
  for (const el of root.querySelectorAll("[data-t-aria]")) el.setAttribute("aria-label", tr(el.dataset.tAria));
}

function buildDom(root) {
  root.innerHTML = `
    <div class="ov-controls" role="toolbar" data-t-aria="playback">
      <button class="ov-play" data-act="play" data-t-title="play_pause" data-t-aria="play">${ICONS.play}</button>
      <button data-act="first" data-t-title="first_step" data-t-aria="first_step">${ICONS.first}</button>
      <button data-act="back" data-t-title="step_back" data-t-aria="step_back">${ICONS.back}</button>
      <button data-act="next" data-t-title="step_forward" data-t-aria="step_forward">${ICONS.next}</button>
      <button data-act="last" data-t-title="last_step" data-t-aria="last_step">${ICONS.last}</button>
      <input class="ov-scrub" type="range" min="0" max="0" value="0" data-t-aria="scrub">
      <span class="ov-step" aria-live="polite"></span>
      <select class="ov-speed" data-t-title="speed" data-t-aria="speed">
        <option value="0.25">¼×</option><option value="0.5">½×</option><option value="1" selected>1×</option>
        <option value="2">2×</option><option value="4">4×</option>
      </select>
      <label class="ov-arrows-toggle"><input type="checkbox" class="ov-arrows" checked> <span data-t="arrows_toggle"></span></label>
    </div>
    <div class="ov-main">
      <div class="ov-mapcol"><div class="ov-map"></div><div class="ov-key"></div></div>
      <div class="ov-side"><div class="ov-legend" role="list" data-t-aria="legend"></div>
        <div class="ov-chart-title"><b data-t="eff_title"></b> <span data-t="eff_note"></span></div>
        <div class="ov-eff"></div><div class="ov-loss"></div></div>
    </div>
    <div class="ov-preview"></div>
    <div class="ov-internals"></div>`;
}

class Overlay {
  // A canvas over the map's plot area, in data coordinates through the axes' own c2p maps.
  constructor(gd) {
    this.gd = gd;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "ov-canvas";
    gd.style.position = "relative";
    gd.appendChild(this.canvas);
    this.ctx = this.canvas.getContext("2d");
    this.weight = 1;  // line widths and radii scale (presentation mode: thicker)
  }

  begin() {
    const full = this.gd._fullLayout;
    if (!full || !full.xaxis) return false;
    const size = full._size, ratio = window.devicePixelRatio || 1;
    const width = full.width, height = full.height;
    if (this.canvas.width !== Math.round(width * ratio) || this.canvas.height !== Math.round(height * ratio)) {
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(height * ratio);
      this.canvas.style.width = width + "px";
      this.canvas.style.height = height + "px";
    }
    this.xa = full.xaxis; this.ya = full.yaxis;
    const c = this.ctx;
    c.setTransform(ratio, 0, 0, ratio, 0, 0);
    c.clearRect(0, 0, width, height);
    c.save();
    c.beginPath();
    c.rect(this.xa._offset, this.ya._offset, this.xa._length, this.ya._length);
    c.clip();
    return true;
  }

  end() { this.ctx.restore(); }

  px(x, y) { return [this.xa._offset + this.xa.c2p(x), this.ya._offset + this.ya.c2p(y)]; }

  dot(x, y, color, r) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    const c = this.ctx, [u, v] = this.px(x, y);
    c.beginPath(); c.arc(u, v, r * this.weight, 0, 2 * Math.PI);
    c.fillStyle = color; c.fill(); c.lineWidth = 2 * this.weight; c.strokeStyle = "#1A1A1A"; c.stroke();
  }

  dots(pos, offset, n, color, r) {
    const c = this.ctx;
    c.fillStyle = color; c.strokeStyle = "#1A1A1A"; c.lineWidth = 1;
    c.beginPath();
    for (let j = 0; j < n; j++) {
      const x = pos[(offset + j) * 2], y = pos[(offset + j) * 2 + 1];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      const [u, v] = this.px(x, y);
      c.moveTo(u + r, v); c.arc(u, v, r, 0, 2 * Math.PI);
    }
    c.fill(); c.stroke();
  }

  image(img, [x0, x1, y0, y1]) {
    // The plot area blanked, then `img` stretched over the data rectangle [x0, x1] x [y0, y1].
    const c = this.ctx;
    c.fillStyle = "#FFFFFF";
    c.fillRect(this.xa._offset, this.ya._offset, this.xa._length, this.ya._length);
    if (!img.complete || !img.naturalWidth) return;
    const [u0, v0] = this.px(x0, y1), [u1, v1] = this.px(x1, y0);
    c.imageSmoothingEnabled = true;
    c.drawImage(img, u0, v0, u1 - u0, v1 - v0);
  }

  star(x, y, color, r) {
    // a five-pointed star of outer radius r, as the map's minimum marks
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    const c = this.ctx, [u, v] = this.px(x, y), R = r * this.weight;
    c.beginPath();
    for (let i = 0; i < 10; i++) {
      const a = -Math.PI / 2 + i * Math.PI / 5, rr = i % 2 ? 0.45 * R : R;
      c.lineTo(u + rr * Math.cos(a), v + rr * Math.sin(a));
    }
    c.closePath();
    c.fillStyle = color; c.fill(); c.lineWidth = 1.2 * this.weight; c.strokeStyle = "#1A1A1A"; c.stroke();
  }

  square(x, y, color, r) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    const c = this.ctx, [u, v] = this.px(x, y), h = r * this.weight;
    c.fillStyle = color; c.fillRect(u - h, v - h, 2 * h, 2 * h);
    c.lineWidth = 1.5 * this.weight; c.strokeStyle = "#1A1A1A"; c.strokeRect(u - h, v - h, 2 * h, 2 * h);
  }

  polyline(path, color, width, alpha = 0.9) {
    const c = this.ctx;
    c.beginPath();
    for (let i = 0; i < path.length / 2; i++) {
      const [u, v] = this.px(path[2 * i], path[2 * i + 1]);
      if (i === 0) c.moveTo(u, v); else c.lineTo(u, v);
    }
    c.strokeStyle = color; c.lineWidth = width * this.weight; c.setLineDash([]); c.globalAlpha = alpha; c.stroke(); c.globalAlpha = 1;
  }

  arrow(seg, color, width, dash, head) {
    // One arrow in its kind's glyph, told apart without colour (colour is the optimizer):
    // dash "dot" a dotted line, "dash" a dashed one, else solid; head "filled" a filled
    // triangle, "open" an open chevron, "small" a small filled one. Under it a white halo, so it
    // stays legible over the cursor dot and the contours.
    const c = this.ctx, w = this.weight;
    const [u0, v0] = this.px(seg[0][0], seg[1][0]), [u1, v1] = this.px(seg[0][1], seg[1][1]);
    const len = Math.hypot(u1 - u0, v1 - v0);
    if (!(len > 1)) return;
    const lw = (width + 1) * w, ux = (u1 - u0) / len, uy = (v1 - v0) / len;
    const size = Math.min((head === "small" ? 11 : 18) * w, 0.5 * len);
    const back = head === "open" ? 0 : size;  // the shaft stops at a filled head's base
    const shaft = () => { c.beginPath(); c.moveTo(u0, v0); c.lineTo(u1 - back * ux, v1 - back * uy); };
    const tip = () => {
      c.beginPath();
      c.moveTo(u1 - size * ux + 0.55 * size * uy, v1 - size * uy - 0.55 * size * ux);
      c.lineTo(u1, v1);
      c.lineTo(u1 - size * ux - 0.55 * size * uy, v1 - size * uy + 0.55 * size * ux);
      if (head !== "open") c.closePath();
    };
    c.save();
    c.lineCap = "round"; c.lineJoin = "round";
    const pattern = dash === "dot" ? [0.01, 2.6 * lw] : dash === "dash" ? [3.2 * lw, 2.2 * lw] : [];
    // the halo
    c.strokeStyle = "rgba(255,255,255,0.9)"; c.fillStyle = "rgba(255,255,255,0.9)";
    c.lineWidth = lw + 3 * w; c.setLineDash(pattern); shaft(); c.stroke();
    c.setLineDash([]); tip(); c.stroke();
    // the glyph
    c.strokeStyle = color; c.fillStyle = color;
    c.lineWidth = lw; c.setLineDash(pattern); shaft(); c.stroke();
    c.setLineDash([]); tip();
    if (head === "open") { c.lineWidth = Math.max(lw, 3 * w); c.stroke(); } else { c.lineWidth = 1.5 * w; c.fill(); c.stroke(); }
    c.restore();
  }

  box(x, y, hx, hy, color) {
    // The second moment's glyph: a thin translucent rectangle centred on (x, y) with half-sides
    // hx, hy in data units.
    if (![x, y, hx, hy].every(Number.isFinite)) return;
    const c = this.ctx, [u0, v0] = this.px(x - hx, y + hy), [u1, v1] = this.px(x + hx, y - hy);
    c.save();
    c.globalAlpha = 0.12; c.fillStyle = color; c.fillRect(u0, v0, u1 - u0, v1 - v0);
    c.globalAlpha = 0.85; c.strokeStyle = color; c.lineWidth = 2 * this.weight;
    c.strokeRect(u0, v0, u1 - u0, v1 - v0);
    c.restore();
  }
}

function glyphSvg(kind, color) {
  // The key's swatch of an arrow kind: the same dash and head as Overlay.arrow draws.
  const dash = kind.line.dash === "dot" ? 'stroke-dasharray="0.01 6" ' : kind.line.dash === "dash" ? 'stroke-dasharray="7 5" ' : "";
  const w = kind.line.width + 1, end = kind.head === "open" ? 34 : kind.head === "small" ? 30 : 27;
  const head = kind.head === "open" ? `<polyline points="27,3 36,9 27,15" fill="none" stroke="${color}" stroke-width="${w}" stroke-linejoin="round" stroke-linecap="round"/>`
    : kind.head === "small" ? `<polygon points="30,5 36,9 30,13" fill="${color}"/>`
    : `<polygon points="26,2 37,9 26,16" fill="${color}"/>`;
  return `<svg class="ov-key-glyph" data-kind="${kind.key}" width="38" height="18" viewBox="0 0 38 18" aria-hidden="true">`
    + `<line x1="2" y1="9" x2="${end}" y2="9" stroke="${color}" stroke-width="${w}" stroke-linecap="round" ${dash}/>${head}</svg>`;
}

function boxSvg(color) {
  return `<svg class="ov-key-glyph" data-kind="box" width="26" height="18" viewBox="0 0 26 18" aria-hidden="true">`
    + `<rect x="3" y="2" width="20" height="14" fill="${color}" fill-opacity="0.1" stroke="${color}" stroke-opacity="0.75" stroke-width="1.5"/>`
    + `<circle cx="13" cy="9" r="2" fill="${color}"/></svg>`;
}

function drawEvalPoints(ov, runs, f, color, tr) {
  // L-BFGS's loss evaluations in the step from frame f (its line search at work): small faint
  // open circles on the overlay, joined in call order by a thin dotted line. runs[i].evals holds
  // [F, E, 2] (NaN-padded) for the runs that record them (plots/playback_data.py).
  const c = ov.ctx;
  runs.forEach((r, i) => {
    if (!r.evals) return;
    if (!r._evalPoints) r._evalPoints = decode(r.evals);
    const e = r.eval_slots, pts = [];
    for (let j = 0; j < e; j++) {
      const x = r._evalPoints[(f * e + j) * 2], y = r._evalPoints[(f * e + j) * 2 + 1];
      if (Number.isFinite(x) && Number.isFinite(y)) pts.push(ov.px(x, y));
    }
    if (!pts.length) return;
    // beside them, the step's own state: "L-BFGS step 3: 25 evaluations · n_pairs 37 · t 1 · ..."
    if (!r._scalarState) r._scalarState = Object.entries(r.scalar_state || {}).map(([name, v]) => [name, decode(v)]);
    const state = r._scalarState.map(([name, v]) => `${name} ${fmt(v[f])}`);
    const text = tr("evaluations", { title: r.title, count: pts.length }) + (state.length ? " · " + state.join(" · ") : "");
    c.save();
    c.font = "12px sans-serif"; c.fillStyle = "rgba(255,255,255,0.85)";
    const w = c.measureText(text).width, v0 = pts[0][1];
    const u0 = Math.max(ov.xa._offset, Math.min(pts[0][0], ov.xa._offset + ov.xa._length - w - 14));  // inside the frame
    c.fillRect(u0 + 8, v0 - 22 - 16 * i, w + 6, 15);
    c.fillStyle = color(i); c.fillText(text, u0 + 11, v0 - 10 - 16 * i);
    c.globalAlpha = 0.55; c.strokeStyle = color(i); c.lineWidth = 1; c.setLineDash([2, 3]);
    c.beginPath(); pts.forEach(([u, v], j) => (j ? c.lineTo(u, v) : c.moveTo(u, v))); c.stroke();
    c.setLineDash([]); c.lineWidth = 1.5;
    for (const [u, v] of pts) { c.beginPath(); c.arc(u, v, 3.5, 0, 2 * Math.PI); c.stroke(); }
    c.restore();
  });
}

function cursorRadius(run) {
  // a run drawn along an earlier one's path (plots/contour.py coinciding) gets a smaller cursor
  // on top of it: concentric rings, every one visible
  return 8.5 - 2.5 * Math.min(run.same_rank || 0, 2);
}

class StepLine {
  // A dashed vertical line at the playback step over a chart's plot area.
  constructor(gd) {
    this.gd = gd;
    this.line = document.createElement("div");
    this.line.className = "ov-stepline";
    gd.style.position = "relative";
    gd.appendChild(this.line);
  }

  at(step) {
    const full = this.gd._fullLayout;
    if (!full || !full.xaxis) return;
    const xa = full.xaxis, size = full._size;
    const u = xa._offset + xa.c2p(step);
    this.line.style.left = u + "px";
    this.line.style.top = size.t + "px";
    this.line.style.height = size.h + "px";
    this.line.style.display = Number.isFinite(u) && u >= xa._offset - 1 && u <= xa._offset + xa._length + 1 ? "block" : "none";
  }
}

// --- layout: one screen ------------------------------------------------------------------------
// The map fills the window below its own top (the story and the controls above it stay in view),
// no taller than its width needs for an equal-scale frame and no shorter than MAP_MIN; beside it
// the legend and the charts share the map's height. Refitted when the window or the column
// width changes (the sidebar opening), never while a frame is drawn.
const MAP_MIN = 420, EFF_MIN = 260, LOSS_MIN = 200, BOTTOM_GAP = 12;
const LEGEND_BESIDE_MIN = 120;  // px: a swatch and about ten characters a line, longer labels wrapping

function scrollingAncestor(el) {
  for (let p = el.parentElement; p; p = p.parentElement) {
    const overflow = getComputedStyle(p).overflowY;
    if (overflow === "auto" || overflow === "scroll") return p;
  }
  return document.scrollingElement || document.documentElement;
}

class FitLayout {
  constructor(view) {
    this.view = view;
    this.sizes = null;
    this.width = 0;
    const soon = () => { clearTimeout(this.timer); this.timer = setTimeout(() => this.fit(), 60); };
    window.addEventListener("resize", soon);
    document.addEventListener("toggle", (e) => { if (e.target.classList.contains("ov-story")) soon(); }, true);  // a folded story above opened or closed (ui/story.py)
    new ResizeObserver(() => {  // width only: the fit itself changes the heights
      const width = view.root.clientWidth;
      if (Math.abs(width - this.width) > 1) { this.width = width; soon(); }
    }).observe(view.root);
    // what is above the map may still be drawing (the formula, the story): fit once more after it
    setTimeout(() => this.fit(), 400);
  }

  heights() { return this.sizes; }

  twoColumns() {
    // the side column beside the map (wide windows), not the legend alone beside it (ov-legend-beside, fit)
    const main = this.view.root.querySelector(".ov-main");
    return !main.classList.contains("ov-legend-beside") && getComputedStyle(main).gridTemplateColumns.split(" ").length > 1;
  }

  target() {
    const v = this.view, full = v.mapDiv._fullLayout;
    if (!full || !full._size || !v.data) return null;
    const scroller = scrollingAncestor(v.root);
    const top = v.mapDiv.getBoundingClientRect().top + scroller.scrollTop;  // as if scrolled to the top
    const key = v.keyBox.offsetHeight || 20;
    const available = window.innerHeight - top - key - BOTTOM_GAP;
    const size = full._size, [[x0, x1], [y0, y1]] = v.data.bounds;
    const column = this.mapColumn(), plotWidth = column - size.l - size.r;
    const square = full.yaxis && full.yaxis.scaleanchor === "x";
    const widthCap = square ? plotWidth * (y1 - y0) / (x1 - x0) + size.t + size.b : Infinity;
    const map = Math.round(Math.max(Math.min(available, widthCap), Math.min(MAP_MIN, widthCap)));
    // a map shorter than its column is wide keeps its colour bar beside the frame, not at the column's edge
    const mapWidth = square ? Math.min(column, Math.round((map - size.t - size.b) * (x1 - x0) / (y1 - y0)
                                                          + size.l + size.r)) : column;
    if (!this.twoColumns()) return { map, mapWidth, column, eff: v.data.eff.layout.height, loss: v.data.loss.layout.height };
    const used = v.legend.box.offsetHeight + v.root.querySelector(".ov-chart-title").offsetHeight;
    const budget = map + key - used;
    const eff = Math.max(EFF_MIN, Math.round(0.6 * budget));
    return { map, mapWidth, column, eff, loss: Math.max(LOSS_MIN, budget - eff) };
  }

  mapColumn() {
    // the map column's width as the grid gives it (its 3 of 5 parts), whatever --ov-map-col says now
    const main = this.view.root.querySelector(".ov-main");
    if (!this.twoColumns()) return main.clientWidth;
    return (main.clientWidth - (parseFloat(getComputedStyle(main).columnGap) || 0)) * 3 / 5;
  }

  async fit() {
    const v = this.view, want = this.target();
    if (!want || !v.Plotly) return;
    this.sizes = want;
    const two = this.twoColumns(), main = v.root.querySelector(".ov-main");
    const narrower = two && want.mapWidth < want.column - 1;
    // one column (a narrow window): the legend beside a map shorter than the column is wide, in the
    // white its equal-scale frame leaves, rather than below the map and the arrow key, out of view
    const beside = !two && want.column - want.mapWidth >= LEGEND_BESIDE_MIN;
    main.classList.toggle("ov-legend-beside", beside);
    main.style.setProperty("--ov-map-col", narrower || beside ? `${want.mapWidth}px` : "");
    v.legend.box.style.maxHeight = beside ? `${want.map}px` : "";
    const sizes = [[v.mapDiv, want.map, want.mapWidth], [v.effDiv, want.eff], [v.lossDiv, want.loss]];
    for (const [div, height, wanted] of sizes) {
      // the width too: Plotly follows the window's width, not its column's (the sidebar closing)
      const full = div._fullLayout, width = wanted || div.clientWidth;
      if (full && (Math.abs(full.height - height) > 1 || Math.abs(full.width - width) > 1)) {
        await v.Plotly.relayout(div, { height, width });
      }
    }
    v.root.dataset.mapHeight = String(want.map);
  }
}

// --- legend: beside the map, never over it -----------------------------------------------------
// Plotly's legend would sit on the plot (it grew to five rows over the map's top); this one is
// a list in the side column that scrolls when long. A click hides or shows an entry's traces in
// the map and the charts (its legendgroup), as Plotly's legend does.
const DASH_ARRAY = { solid: "", dot: "2 3", dash: "6 3", longdash: "10 4", dashdot: "6 3 2 3", longdashdot: "10 4 2 4" };
const GLYPHS = { star: "★", diamond: "◆", square: "■", x: "✕" };

function legendSwatch(trace) {
  const color = (trace.line && trace.line.color) || (trace.marker && trace.marker.color) || "#444444";
  if ((trace.mode || "").includes("lines") && !(trace.line && trace.line.width === 0)) {
    const dash = DASH_ARRAY[(trace.line && trace.line.dash) || "solid"] || "";
    return `<svg class="ov-legend-swatch" viewBox="0 0 30 12" width="30" height="12" aria-hidden="true">
      <line x1="1" y1="6" x2="29" y2="6" stroke="${color}" stroke-width="3" stroke-dasharray="${dash}"/></svg>`;
  }
  const symbol = (trace.marker && trace.marker.symbol) || "circle";
  const glyph = GLYPHS[symbol] || "●";
  return `<span class="ov-legend-glyph" style="color:${color}" aria-hidden="true">${glyph}</span>`;
}

class Legend {
  constructor(box, charts, tr, name) {
    this.box = box;
    this.charts = charts;  // () => the plot divs whose traces an entry toggles
    this.tr = tr;
    this.name = name;  // trace => its entry's words
    box.addEventListener("click", (e) => {
      const item = e.target.closest(".ov-legend-item");
      if (item) this.toggle(item);
    });
  }

  build(traces) {
    const items = traces.map((t, i) => ({ t, i })).filter(({ t }) => t.showlegend !== false && t.name && t.visible !== false);
    this.traces = traces;
    this.box.innerHTML = items.map(({ t, i }) => `<button type="button" class="ov-legend-item" role="listitem"
      data-group="${escapeHtml(t.legendgroup || "")}" data-trace="${i}" title="${escapeHtml(this.tr("legend_toggle"))}">
      ${legendSwatch(t)}<span class="ov-legend-text">${escapeHtml(this.name(t))}</span></button>`).join("");
  }

  relabel(k, meta) {
    // Configuration k's entry written from `meta` ({label, fate}: a previewed run's, as the
    // server's would be), or as its trace says when meta is null (the figure's run again).
    for (const item of this.box.querySelectorAll(".ov-legend-item")) {
      const t = this.traces[Number(item.dataset.trace)], own = t.meta || {};
      if (own.config !== k || own.label === undefined) continue;
      setText(item.querySelector(".ov-legend-text"), this.name(meta ? { ...t, meta: { role: own.role, config: k, ...meta } } : t));
    }
  }

  toggle(item) {
    const off = item.classList.toggle("ov-off");
    const group = item.dataset.group;
    for (const div of this.charts()) {
      if (!div.data) continue;
      const indices = div.data.map((t, i) => ((group ? t.legendgroup === group : div === this.charts()[0] && i === Number(item.dataset.trace)) ? i : -1))
        .filter((i) => i >= 0);
      if (indices.length) window.Plotly.restyle(div, { visible: off ? "legendonly" : true }, indices);
    }
  }
}

class MapView {
  constructor(root, setTriggerValue) {
    this.root = root;
    this.trigger = setTriggerValue;
    buildDom(root);
    this.mapDiv = root.querySelector(".ov-map");
    this.effDiv = root.querySelector(".ov-eff");
    this.lossDiv = root.querySelector(".ov-loss");
    this.scrub = root.querySelector(".ov-scrub");
    this.stepText = root.querySelector(".ov-step");
    this.playButton = root.querySelector(".ov-play");
    this.arrowsBox = root.querySelector(".ov-arrows");
    this.internals = root.querySelector(".ov-internals");
    this.previewBox = root.querySelector(".ov-preview");
    this.keyBox = root.querySelector(".ov-key");
    this.playing = false;
    this.frame = 0;
    this.framesDrawn = 0;
    this.lastDraw = 0;
    root.querySelector(".ov-controls").addEventListener("click", (e) => this.onControl(e));
    this.scrub.addEventListener("input", () => { this.pause(); this.show(Number(this.scrub.value)); });
    this.arrowsBox.addEventListener("change", () => this.show(this.frame));
    root.querySelector(".ov-speed").addEventListener("change", (e) => { this.speed = Number(e.target.value); });
    this.speed = 1;
    root.tabIndex = 0;
    root.addEventListener("keydown", (e) => {
      if (e.key === " " && e.target.tagName !== "SELECT") { e.preventDefault(); this.toggle(); }
    });
  }

  async update(sent) {
    // Draw the run `sent` names (its data fetched while Plotly.js loads); false, drawing nothing,
    // when later data arrived meanwhile (a later run's, or this run's sent inline).
    this.tUpdate = performance.now();
    const call = (this.updates = (this.updates || 0) + 1);
    const [data, Plotly] = await Promise.all([runData(sent).catch((err) => this.askInline(sent, err)), loadPlotly()]);
    if (!data || call !== this.updates) return false;
    this.root.dataset.fetchMs = String(performance.now() - this.tUpdate);
    this.data = data;
    this.pendingRun = -1;
    this.pendingAll = false;
    this.Plotly = Plotly;
    const frames = decode(data.frames);
    this.frames = frames;
    this.runs = data.runs.map((r) => {
      const out = { ...r };
      for (const key of ["path", "loss", "grad", "eff", "update", "lr", "first", "second", "box"]) out[key] = decode(r[key]);
      return out;
    });
    this.swarm = data.swarm ? data.swarm.map(decode) : null;
    this.swarmFrames = data.swarm_frames ? decode(data.swarm_frames) : null;
    localize(this.root, (key) => this.tr(key));
    const map = { data: data.map.data.map((t) => this.hoverWords(this.exitLabels(t))), layout: { ...data.map.layout, autosize: true, showlegend: false } };
    map.layout.margin = { ...map.layout.margin };
    this.root.classList.toggle("ov-present", !!data.present);
    const sizes = this.layout ? this.layout.heights() : null;  // the last fit: no jump on a new run
    if (sizes) map.layout.height = sizes.map;
    this.legend = this.legend || new Legend(this.root.querySelector(".ov-legend"), () => [this.mapDiv, this.effDiv, this.lossDiv],
                                            (key, values) => this.tr(key, values), (t) => this.legendName(t));
    this.legend.build(map.data);
    const tReact = performance.now();
    this.root.dataset.decodeMs = String(tReact - this.tUpdate);
    await Plotly.react(this.mapDiv, map.data, map.layout, CONFIG);
    // what the overlay drew over the old figure (a released notch's runs) gives way to the new one,
    // whose traces are drawn as the data says
    this.surfacePreview = null;
    this.exact = null;
    this.hidden = null;
    this.root.dataset.reactMapMs = String(performance.now() - tReact);
    // the charts beside the map after the map has been painted: the map is what the user watches
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    const side = (fig, height) => ({ ...fig.layout, ...(height ? { height } : {}) });
    await Plotly.react(this.effDiv, data.eff.data, side(data.eff, sizes && sizes.eff), { ...CONFIG, displayModeBar: false });
    await Plotly.react(this.lossDiv, data.loss.data, side(data.loss, sizes && sizes.loss), { ...CONFIG, displayModeBar: false });
    this.root.dataset.reactMs = String(performance.now() - tReact);
    this.attachClick();
    this.overlay = this.overlay || new Overlay(this.mapDiv);
    this.overlay.weight = data.present ? 1.5 : 1;
    this.layout = this.layout || new FitLayout(this);
    await this.layout.fit();
    this.effLine = this.effLine || new StepLine(this.effDiv);
    this.lossLine = this.lossLine || new StepLine(this.lossDiv);
    if (!this.listening) {
      this.listening = true;
      for (const div of [this.mapDiv, this.effDiv, this.lossDiv]) {
        div.on("plotly_relayout", () => this.show(this.frame));
        div.on("plotly_afterplot", () => this.redrawSoon());
      }
    }
    this.scrub.max = String(frames.length - 1);
    const start = data.initial_step !== undefined ? data.initial_step : Math.max(0, data.steps - 1);
    this.show(this.nearestFrame(start));
    const pending = window.__optvisPreview;  // entries are kept by basis: those still valid serve at once
    this.buildPreview(pending && pending.run === data.id ? pending.entries : null);
    this.keepPicked();
    return true;
  }

  askInline(sent, err) {
    // The run's file could not be fetched (pruned, or the server restarted): the server's next run
    // sends its data inline (ui/map_component.py), drawn when it comes. null: nothing to draw yet.
    if (this.inlineFor === sent.id) return null;  // it came inline meanwhile (with the charts': INLINE_ALL)
    if (!sent.url || this.asked === sent.id) throw err;  // asked once per run: a second failure shows
    this.asked = sent.id;
    this.root.dataset.askedInline = sent.id;
    afterTheRun(() => this.trigger("missing", sent.id));
    return null;
  }

  keepPicked() {
    // A run for an earlier slider position (a burst of key presses reruns the page for each)
    // must not replace the run at the slider's last position: that one stays on the map, from
    // the preview, until the page's run for it arrives.
    const pick = this.picked, slider = pick && this.data.sliders ? this.data.sliders[pick.id] : null;
    if (!slider || slider.index === pick.index || !this.entryFor(pick.id)) { this.picked = null; return; }
    this.onSlider({ id: pick.id, index: pick.index, final: true });
  }

  color(i) {
    return this.data.colors[i];
  }

  tr(key, values) {
    // the session's words for `key` (ui/map_component.py texts(), ui/locales), fields filled
    const text = this.data && this.data.text ? this.data.text[key] : undefined;
    return fill(text === undefined ? key : text, values);
  }

  legendName(trace) {
    // a configuration's legend entry in the session's language: its label, its fate (meta.fate,
    // plots/contour.py legend_label) and the path it is drawn along (meta.same_as)
    const meta = trace.meta || {};
    if (meta.label === undefined) return trace.name;
    let name = meta.label;
    const fate = meta.fate;
    if (fate && fate.kind === "diverged") {
      name += " — " + this.tr("fate_diverged", { step: fate.step }) + (fate.starts > 1 ? this.tr("fate_some", fate) : "");
    } else if (fate && fate.kind === "converged") {
      name += " — " + this.tr("fate_converged", { step: fate.step }) + (fate.starts > 1 ? this.tr("fate_all", fate) : "");
    }
    if (meta.same_as !== undefined && meta.same_as !== null) name += " — " + this.tr("same_path", { label: this.runs[meta.same_as].label });
    return name;
  }

  hoverWords(trace) {
    // the hover of the map's marks in the session's language (plots/contour.py writes English)
    const meta = trace.meta || {}, run = this.runs[meta.config];
    const name = run ? `<b>${escapeHtml(run.label)}</b><br>` : "";
    const last = (v) => fmt(v).replace("·10^", "e");
    switch (meta.role) {
      case "path":
        if (!trace.hovertemplate || !trace.customdata) return trace;  // a swarm's lines have no hover
        return { ...trace, hovertemplate: name + this.tr(this.data.starts === 1 ? "hover_step_full" : "hover_step") };
      case "end": return { ...trace, hovertemplate: name + this.tr("hover_end") };
      case "start": return { ...trace, hovertemplate: this.tr("hover_start") };
      case "density": return { ...trace, hovertemplate: name + this.tr("hover_density") };
      case "diverged":
        return { ...trace, hovertext: meta.steps.map((step, i) => name + this.tr("hover_diverged", { step: meta.diverged_at[i] })
          + "<br>" + this.tr("hover_last", { step, x: last(meta.last[i][0]), y: last(meta.last[i][1]) })
          + (meta.outside[i] ? "<br>" + this.tr("hover_outside") : "")) };
      case "minimum": case "saddle":
        return { ...trace, hovertemplate: `${escapeHtml(trace.name)} (%{x:.4g}, %{y:.4g})<extra></extra>` };
      default: return trace;
    }
  }

  exitLabels(trace) {
    // a diverged trace's arrow labels (plots/contour.py exit_label) in the session's language
    const meta = trace.meta || {};
    if (meta.role !== "diverged" || !Array.isArray(trace.marker.symbol)) return trace;
    const text = trace.marker.symbol.map((symbol, i) => {
      if (symbol !== "arrow") return "";
      const [x, y] = meta.last[i], scale = Math.max(Math.abs(x), Math.abs(y));
      return this.tr("exit", { step: meta.steps[i], x: shortNumber(x, scale), y: shortNumber(y, scale) });
    });
    return { ...trace, text };
  }

  nearestFrame(step) {
    let best = 0;
    for (let f = 0; f < this.frames.length; f++) if (Math.abs(this.frames[f] - step) < Math.abs(this.frames[best] - step)) best = f;
    return best;
  }

  attachClick() {
    if (this.clickAttached) return;
    this.clickAttached = true;
    let timer = null;
    this.mapDiv.addEventListener("click", (e) => {
      const drag = this.mapDiv.querySelector(".nsewdrag");
      if (!drag || e.target !== drag) return;
      const rect = drag.getBoundingClientRect();
      const full = this.mapDiv._fullLayout;
      const x = full.xaxis.p2l(e.clientX - rect.left);
      const y = full.yaxis.p2l(e.clientY - rect.top);
      clearTimeout(timer);
      timer = setTimeout(() => this.trigger("click", { x, y }), 280);  // a double click zooms out instead
    });
    this.mapDiv.addEventListener("dblclick", () => clearTimeout(timer));
  }

  onControl(e) {
    const act = e.target.closest("button")?.dataset.act;
    if (!act) return;
    const last = this.frames.length - 1;
    if (act === "play") return this.toggle();
    this.pause();
    const target = { first: 0, back: this.frame - 1, next: this.frame + 1, last }[act];
    this.show(Math.max(0, Math.min(last, target)));
  }

  toggle() {
    if (this.playing) return this.pause();
    if (this.frame >= this.frames.length - 2) this.show(0);  // at the end (or the last update): from the start
    this.playing = true;
    this.playButton.innerHTML = ICONS.pause;
    this.playButton.setAttribute("aria-pressed", "true");
    this.position = this.frame;
    this.lastTime = performance.now();
    const tick = (now) => {
      if (!this.playing) return;
      const rate = (this.frames.length - 1) / PLAY_SECONDS * this.speed;  // frames per second
      this.position = Math.min(this.frames.length - 1, this.position + rate * (now - this.lastTime) / 1000);
      this.lastTime = now;
      const f = Math.floor(this.position);
      if (f !== this.frame) this.show(f);
      if (this.position >= this.frames.length - 1) return this.pause();
      this.raf = requestAnimationFrame(tick);
    };
    this.raf = requestAnimationFrame(tick);
  }

  pause() {
    this.playing = false;
    cancelAnimationFrame(this.raf);
    this.playButton.innerHTML = ICONS.play;
    this.playButton.setAttribute("aria-pressed", "false");
  }

  show(f) {
    // Draw frame f: cursor markers, arrows, the charts' step line, the readout and the table.
    this.frame = f;
    const step = this.frames[f];
    this.scrub.value = String(f);
    const k = this.runs.length;
    setText(this.stepText, this.tr("step_of", { step, steps: this.data.steps }) + (this.frames.length < this.data.steps + 1 ? this.tr("step_skips") : ""));
    const t0 = performance.now();
    this.draw(f, step);
    this.effLine.at(step);
    this.lossLine.at(step);
    this.frameMs = performance.now() - t0;  // for bench/browser_latency.py
    this.table(f, step);
    this.framesDrawn += 1;  // a property, not an attribute: a change of the root's attributes restyles the whole page
  }

  redrawSoon() {
    if (this.redrawPending) return;
    this.redrawPending = true;
    requestAnimationFrame(() => { this.redrawPending = false; if (this.frames) this.show(this.frame); });
  }

  draw(f, step) {
    // The cursor markers, the arrows and the lr preview on the overlay canvas.
    const ov = this.overlay;
    if (!ov.begin()) return;
    // While the map shows a preview's run the charts beside it (and, for a surface's preview, the
    // colour bar) are still the page's run's: dimmed until the server's data arrives
    this.root.classList.toggle("ov-previewing", !!(this.previewPath || this.surfacePreview || this.exact));
    this.root.classList.toggle("ov-surface-previewing", !!this.surfacePreview);
    const k = this.runs.length;
    const arrows = this.arrowsBox.checked ? this.arrowData(f) : null;
    if (this.surfacePreview) {
      this.drawSurfacePreview(ov);
      ov.end();
      setHtml(this.keyBox, "");
      setShown(this.root, this.surfacePreview.exact ? `surface:${this.surfacePreview.j}` : "");
      return;
    }
    const exact = this.exact;
    if (exact) {  // a released notch's run, in its configuration's colour and line width, its end marked
      const n = exact.path.length / 2;
      ov.polyline(exact.path, this.color(exact.k), exact.width, 1);
      if (n) ov.square(exact.path[2 * n - 2], exact.path[2 * n - 1], this.color(exact.k), 5);
    }
    // what the map shows in place of its figure's paths, for tests and bench/browser_latency.py
    setShown(this.root, exact ? `${exact.k}:${exact.label}:${exact.path[exact.path.length - 2]},${exact.path[exact.path.length - 1]}` : "");
    if (this.previewPath) ov.polyline(this.previewPath, this.previewColor, 4);
    // drawn, in order, for tests: {what: "box" | "marker" | "arrow", config, kind, half}
    const drawn = [];
    const boxes = arrows ? this.boxData(f) : null;
    if (boxes) {
      boxes.forEach((b, i) => {
        if (!b || this.isPending(i)) return;
        ov.box(b.x, b.y, b.half[0], b.half[1], this.color(i));
        drawn.push({ what: "box", config: i, half: b.half });
      });
    }
    drawEvalPoints(ov, this.runs, f, (i) => this.color(i), (key, values) => this.tr(key, values));
    for (let i = 0; i < k; i++) {
      if (this.swarm) {
        const sf = this.nearestSwarmFrame(step), pos = this.swarm[i], n = this.data.starts;
        ov.dots(pos, sf * n, n, this.color(i), 4);
        drawn.push({ what: "marker", config: i });
      } else if (!this.isPending(i)) {  // a run shown from the preview has no frames yet
        const p = vec(this.runs[i].path, f);
        ov.dot(p[0], p[1], this.color(i), cursorRadius(this.runs[i]));
        drawn.push({ what: "marker", config: i });
      }
    }
    // the arrows above the markers (their tails start at the cursor), the update last, on top
    if (arrows) {
      this.data.arrow_kinds.forEach((kind, a) => {
        for (let i = 0; i < k; i++) {
          const seg = arrows[a][i];
          if (!seg[0].length || this.isPending(i)) continue;
          ov.arrow(seg, this.color(i), kind.line.width, kind.line.dash, kind.head);
          drawn.push({ what: "arrow", config: i, kind: kind.key });
        }
      });
    }
    ov.end();
    this.drawn = drawn;
    setHtml(this.keyBox, arrows ? this.arrowKey(step) : "");
  }

  isPending(i) {
    // Whether configuration i's path on the map is the preview's run (its frames are not here yet).
    return this.pendingAll || i === this.pendingRun;
  }

  drawSurfacePreview(ov) {
    // While a surface slider moves: that notch's surface image and every configuration's run on it.
    const { entry, j } = this.surfacePreview, K = entry.configs;
    ov.image(entry.imgs[j], entry.bounds[j]);
    for (let k = 0; k < K; k++) {
      const path = entry.decoded[j * K + k], n = path.length / 2;
      ov.polyline(path, this.color(k), 3);
      if (n) ov.square(path[2 * n - 2], path[2 * n - 1], this.color(k), 5);
    }
    const first = entry.decoded[0];
    if (first && first.length) ov.dot(first[0], first[1], "#FFFFFF", 6);
    // the notch's minima (they move with Rosenbrock's a, say), marked as the figure marks its own
    const mark = this.mapDiv.data.find((t) => t.meta && t.meta.role === "minimum");
    const fill = mark && mark.marker && typeof mark.marker.color === "string" ? mark.marker.color : "#FFD21F";
    for (const [x, y] of (entry.minima && entry.minima[j]) || []) ov.star(x, y, fill, 10);
  }

  nearestSwarmFrame(step) {
    let best = 0;
    for (let f = 0; f < this.swarmFrames.length; f++) if (Math.abs(this.swarmFrames[f] - step) < Math.abs(this.swarmFrames[best] - step)) best = f;
    return best;
  }

  arrowData(f) {
    // Per kind and configuration: [[x0, x1], [y0, y1]] from theta_s along the kind's vector,
    // at the run's one scale per kind, shortened at the frame's edge.
    const [[x0, x1], [y0, y1]] = this.data.bounds;
    const out = [];
    for (const kind of this.data.arrow_kinds) {
      const scale = this.data.arrows[kind.key];
      const field = { gradient: "grad", first_moment: "first", update: "update" }[kind.key];
      const sign = kind.key === "update" ? 1 : -1;
      out.push(this.runs.map((r) => {
        const p = vec(r.path, f), v = vec(r[field], f);
        if (!scale || !v || !Number.isFinite(v[0]) || !Number.isFinite(v[1]) || (v[0] === 0 && v[1] === 0)) return [[], []];
        if (p[0] < x0 || p[0] > x1 || p[1] < y0 || p[1] > y1) return [[], []];
        let d = [sign * v[0] * scale, sign * v[1] * scale], frac = 1;
        for (const [c, lo, hi] of [[0, x0, x1], [1, y0, y1]]) {
          if (d[c] > 0) frac = Math.min(frac, (hi - p[c]) / d[c]);
          else if (d[c] < 0) frac = Math.min(frac, (lo - p[c]) / d[c]);
        }
        frac = Math.max(frac, 0);
        return [[p[0], p[0] + frac * d[0]], [p[1], p[1] + frac * d[1]]];
      }));
    }
    return out;
  }

  boxData(f) {
    // Per configuration: its point theta_s and the box's half-sides (1/sqrt(v) at the run's one
    // box scale, plots/playback_data.py box_scale), or null (no second moment, v = 0, s = T).
    const scale = this.data.boxes && this.data.boxes.scale;
    if (!scale) return null;
    return this.runs.map((r) => {
      if (!r.box) return null;
      const p = vec(r.path, f), h = vec(r.box, f);
      if (!h || !Number.isFinite(h[0]) || !Number.isFinite(h[1])) return null;
      return { x: p[0], y: p[1], half: [h[0] * scale, h[1] * scale] };
    });
  }

  arrowKey(step) {
    // The key under the map: each kind's glyph as it is drawn (SVG swatches in a neutral grey,
    // since colour is the optimizer's), its name and its one scale for the run.
    const grey = "#333333";
    const items = this.data.arrow_kinds.filter((kd) => this.data.arrows[kd.key]).reverse()
      .map((kd) => `<span class="ov-key-item">${glyphSvg(kd, grey)} ${escapeHtml(kd.text)} ×${fmt(this.data.arrows[kd.key])}</span>`);
    const boxes = this.data.boxes;
    if (boxes && boxes.scale && this.runs.some((r) => r.box)) {
      items.push(`<span class="ov-key-item">${boxSvg(grey)} ${escapeHtml(this.tr("box_key"))} ×${fmt(boxes.scale)}</span>`);
    }
    const which = this.data.starts > 1 ? this.tr("arrows_first_start") : "";
    return items.length ? `<b>${escapeHtml(this.tr("arrows_at", { step }) + which)}</b> ${escapeHtml(this.tr("arrows_scale"))}: ` + items.join(" ") : "";
  }

  status(r, step) {
    if (step < r.stop) return this.tr("moving");
    if (r.diverged_at >= 0) return this.tr("diverged_frozen", { step: r.diverged_at });
    if (r.converged_at >= 0) return this.tr("converged", { step: r.converged_at });
    return this.tr("final_point");
  }

  table(f, step) {
    const rows = this.runs.map((r, i) => {
      const p = vec(r.path, f), g = vec(r.grad, f), eff = vec(r.eff, f), upd = vec(r.update, f);
      const m1 = vec(r.first, f), m2 = vec(r.second, f);
      const status = this.status(r, step);
      const next = step < this.data.steps;
      let eq;
      if (!next) eq = `θ<sub>${step}</sub> = ${vtext(p)}: ${escapeHtml(this.tr("final_no_update"))}`;
      else if (step >= r.stop) eq = `${status}: θ<sub>${step + 1}</sub> = θ<sub>${step}</sub> = ${vtext(p)}`;
      else if (r.direction_form && eff[0] !== 0 && eff[1] !== 0) {
        const d = [-upd[0] / eff[0], -upd[1] / eff[1]];
        eq = `θ<sub>${step + 1}</sub> = θ<sub>${step}</sub> − η<sup>eff</sup> ⊙ d = ${vtext(p)} − ${vtext(eff)} ⊙ ${vtext(d)} = ${vtext([p[0] + upd[0], p[1] + upd[1]])}`;
      } else eq = `θ<sub>${step + 1}</sub> = θ<sub>${step}</sub> + Δθ = ${vtext(p)} + ${vtext(upd)} = ${vtext([p[0] + upd[0], p[1] + upd[1]])}`;
      if (next && step < r.stop && step > 0 && this.frames[f - 1] === step - 1) eq += this.recurrenceLines(r, f, step + 1);
      const name = (label, v) => (label && v ? `${escapeHtml(label)} ${vtext(v)}` : "—");
      return `<tr><td><span class="ov-swatch" style="background:${this.color(i)}"></span>${escapeHtml(r.label)}</td>
        <td>${vtext(p)}</td><td>${fmt(r.loss[f])}</td><td>${vtext(g)}</td><td>${name(r.first_name, m1)}</td>
        <td>${name(r.second_name, m2)}</td><td>${vtext(eff)}</td><td>${vtext(upd)}</td><td>${escapeHtml(status)}</td></tr>
        <tr class="ov-eq"><td colspan="9">${eq}</td></tr>`;
    });
    const first = this.data.starts > 1 ? this.tr("first_start") : "";
    const th = (key) => `<th>${escapeHtml(this.tr(key))}</th>`;
    setHtml(this.internals, `<div class="ov-title">${escapeHtml(this.tr("internals_at", { step }) + first)}</div>
      <table><thead><tr>${th("col_optimizer")}<th>θ</th><th>f(θ)</th>${th("col_gradient")}${th("col_first")}
      ${th("col_second")}${th("col_eff")}${th("col_update")}${th("col_status")}</tr></thead><tbody>${rows.join("")}</tbody></table>
      <div class="ov-note">${escapeHtml(this.tr("internals_note"))}</div>`);
  }

  recurrenceLines(r, f, t) {
    // The moments' recurrences (plots/recurrences.py: each one the run's records satisfy) at step t
    // with their numbers: the state after step t - 1 (frame f - 1), the gradient and the new state.
    return (r.recurrences || []).map((rec) => {
      const now = vec(r[rec.state], f), before = vec(r[rec.state], f - 1), g = vec(r.grad, f);
      const drive = rec.square ? [g[0] * g[0], g[1] * g[1]] : g;
      const gsym = rec.square ? `g<sub>${t}</sub><sup>2</sup>` : `g<sub>${t}</sub>`, s = rec.symbol;
      const coef = rec.coef === 1 ? "" : `${rec.coef_symbol} `, gain = rec.gain_text ? `${rec.gain_text} ` : "";
      const coefNum = rec.coef === 1 ? "" : `${fmt(rec.coef)} · `, gainNum = rec.gain === 1 ? "" : `${fmt(rec.gain)} · `;
      return `<br>${s}<sub>${t}</sub> = ${coef}${s}<sub>${t - 1}</sub> + ${gain}${gsym} = ${coefNum}${vtext(before)} + `
        + `${gainNum}${vtext(drive)} = ${vtext(now)}`;
    }).join("");
  }

  buildPreview(entries) {
    // The drag preview's entries (ui/preview.py), by basis: an entry holds the engine's runs at
    // some notches of one slider, valid while the page's data names that basis for the slider.
    this.entries = this.entries || new Map();
    if (entries) this.entries = new Map(entries.map((e) => [e.basis, this.entries.get(e.basis) || e]));
    this.previewPath = null;
    setText(this.previewBox, "");
    this.previewPaths = this.entries.size ? true : null;
    if (!this.sliderListener) {
      this.sliderListener = (e) => this.onSlider(e.detail);
      window.addEventListener("optvis:slider", this.sliderListener);
    }
    // an entry that came while its slider was being dragged: drawn at once, where the slider is
    if (this.moving && this.frames && this.entryFor(this.moving.id)) this.onSlider(this.moving);
  }

  entryFor(id) {
    // [slider, entry] for the sidebar slider `id`, its paths decoded on first use; null when not previewed
    const slider = this.data && this.data.sliders ? this.data.sliders[id] : null;
    const entry = slider && this.entries ? this.entries.get(slider.basis) : null;
    if (!entry) return null;
    if (!entry.decoded) entry.decoded = entry.paths.map(decode);
    if (entry.images && !entry.imgs) {
      entry.imgs = entry.images.map((src) => Object.assign(new Image(), { src }));
      for (const img of entry.imgs) img.decode().catch(() => {});  // decoded off the drag's frames, not at its first draw
      for (const img of entry.imgs) img.onload = () => { if (this.surfacePreview && this.surfacePreview.entry === entry) this.draw(this.frame, this.frames[this.frame]); };
    }
    return [slider, entry];
  }

  onSlider({ id, index, final }) {
    // The sidebar's slider `id` is at notch `index` (moving, or released when final).
    const found = this.frames ? this.entryFor(id) : null;
    this.moving = final ? null : { id, index, final };
    if (!found) {
      const slider = this.data && this.data.sliders ? this.data.sliders[id] : null;
      // a slider previewed on request (ui/map_preview.js): its entry is on its way
      if (slider && this.frames) setText(this.previewBox, final ? "" : this.tr("preview_pending", { axis: slider.axis }));
      return;
    }
    const [slider, entry] = found, k = slider.config;
    const t0 = performance.now();
    let j = 0;
    for (let i = 1; i < entry.indices.length; i++) if (Math.abs(entry.indices[i] - index) < Math.abs(entry.indices[j] - index)) j = i;
    const onNotch = entry.indices[j] === index, label = entry.labels[j];
    if (final) this.picked = { id, index };
    if (k < 0) this.onSurfaceSlider(slider, entry, j, index, final);
    else if (final && index === slider.index) {  // back where it was: the map's figure shows that run
      this.legend.relabel(k, null);
      this.previewPath = null;
      this.exact = null;
      this.pendingRun = -1;
      this.restoreTraces();
      setText(this.previewBox, "");
      this.draw(this.frame, this.frames[this.frame]);
    } else if (final && onNotch && entry.exact) {
      this.legend.relabel(k, this.notchMeta(entry, j, label));
      this.previewPath = null;
      this.showExact(k, entry.decoded[j], label);
      setText(this.previewBox, this.tr("preview_exact", { label, axis: slider.axis }));
    } else {
      this.legend.relabel(k, this.notchMeta(entry, j, label));  // the drawn path's
      this.previewPath = entry.decoded[j];
      this.previewColor = this.color(k);
      this.draw(this.frame, this.frames[this.frame]);
      const which = onNotch ? this.tr("preview_this") : this.tr("preview_nearest", { label });
      setText(this.previewBox, final ? this.tr("preview_running", { axis: slider.axis }) : this.tr("preview_of",
        { axis: slider.axis, which, count: entry.indices.length, first: entry.exact ? "" : this.tr("preview_first_only") }));
    }
    this.previewFrames = (this.previewFrames || 0) + 1;
    this.root.dataset.previewFrames = String(this.previewFrames);
    this.root.dataset.previewMs = String(performance.now() - t0);
  }

  notchMeta(entry, j, label) {
    // what a legend entry is written from for run j of `entry` (Legend.relabel): `label`, as the
    // server labels that configuration, and that run's fate where the run is the page's own
    return { label, fate: entry.fates ? entry.fates[j] : undefined };
  }

  onSurfaceSlider(slider, entry, j, index, final) {
    // A surface parameter's slider at notch `index`; entry.indices[j] is the nearest computed one.
    const onNotch = entry.indices[j] === index, label = entry.labels[j];
    this.surfacePreview = null;
    // every configuration's entry: its own label, the fate of its run on the drawn notch's surface
    this.runs.forEach((r, k) => this.legend.relabel(k, final && index === slider.index ? null
      : this.notchMeta(entry, j * entry.configs + k, r.label)));
    if (final && index === slider.index) {
      this.pendingAll = false;
      this.restoreTraces();
      setText(this.previewBox, "");
      this.draw(this.frame, this.frames[this.frame]);
    } else if (final && onNotch && entry.exact) {
      this.showExactSurface(entry, j);
      setText(this.previewBox, this.tr("preview_surface_exact", { label }));
    } else {
      this.surfacePreview = { entry, j };
      this.draw(this.frame, this.frames[this.frame]);
      const which = onNotch ? this.tr("preview_surface_this") : this.tr("preview_surface_nearest", { label });
      setText(this.previewBox, final ? this.tr("preview_running", { axis: slider.axis }) : this.tr("preview_of",
        { axis: slider.axis, which, count: entry.indices.length, first: entry.exact ? "" : this.tr("preview_first_only") }));
    }
  }

  showExactSurface(entry, j) {
    // Every configuration's run on the surface at notch j of a surface slider, over that notch's
    // image, drawn on the overlay (which covers the figure's plot area) until the server's data
    // arrives; the figure's marks stop answering hover, since they are the old surface's.
    this.surfacePreview = { entry, j, exact: true };
    this.pendingAll = true;
    this.hideTraces(() => true, false);
    this.draw(this.frame, this.frames[this.frame]);
  }

  showExact(k, path, label) {
    // Configuration k's path and end mark replaced by its run at a computed notch (`path` [2P]
    // float32, the engine's points), until the server's data for it arrives: its traces are
    // hidden (a change of style) and the run drawn on the overlay, since a restyle of the traces'
    // points would have Plotly draw the whole figure anew.
    const gd = this.mapDiv, trace = gd._fullData.find((t) => t.meta && t.meta.role === "path" && t.meta.config === k);
    this.exact = { k, path, label, width: trace && trace.line ? trace.line.width : 2 };
    this.pendingRun = k;
    this.hideTraces((meta) => meta.config === k && ["path", "end"].includes(meta.role), true);
    this.draw(this.frame, this.frames[this.frame]);
  }

  hideTraces(which, invisible) {
    // The map's traces whose meta satisfies `which` stop answering hover (and, if `invisible`,
    // are not drawn) until restoreTraces or the next run's data; one restyle of style only.
    this.restoreTraces();
    const gd = this.mapDiv, idx = [];
    gd.data.forEach((t, i) => { if (which(t.meta || {})) idx.push(i); });
    if (!idx.length) return;
    this.hidden = idx.map((i) => [i, gd.data[i].opacity, gd.data[i].hoverinfo, gd.data[i].hovertemplate]);
    const quiet = { hoverinfo: "skip", hovertemplate: null };  // a hover template would outrank "skip"
    this.Plotly.restyle(gd, invisible ? { ...quiet, opacity: 0 } : quiet, idx);
  }

  restoreTraces() {
    const hidden = this.hidden;
    this.hidden = null;
    if (!hidden || !this.mapDiv.data) return;
    const value = (v) => (v === undefined ? null : v);  // null: back to the attribute's default
    this.Plotly.restyle(this.mapDiv, { opacity: hidden.map((h) => value(h[1])), hoverinfo: hidden.map((h) => value(h[2])),
                                       hovertemplate: hidden.map((h) => value(h[3])) }, hidden.map((h) => h[0]));
  }
}

function askForTheRest(view, data) {
  // A new session's first run drew only the map (ui/first_view.py): once it is drawn (or failed to
  // be), the server's next run brings the rest of the page. Asked once per page.
  if (!data.rest_pending || view.restAsked) return;
  view.restAsked = true;
  requestAnimationFrame(() => view.trigger("drawn", true));  // after the map's frame is painted
}

export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  window.__optvisReceived = window.__optvisReceived || performance.now();  // first data of this page
  let view = parentElement.__optvisView;
  if (!view) {
    const root = document.createElement("div");
    root.className = "ov-root";
    parentElement.appendChild(root);
    view = new MapView(root, setTriggerValue);
    parentElement.__optvisView = view;
    window.__optvisMapView = view;
  }
  view.trigger = setTriggerValue;
  // a run's data sent inline under the id already shown (asked for, or sent with the charts':
  // INLINE_ALL) is drawn unless already drawn, even while its file's fetch is still on its way
  const inlineNew = data && !data.url && view.inlineFor !== data.id && view.root.dataset.ready !== data.id;
  if (data && (data.id !== view.dataId || inlineNew)) {
    view.dataId = data.id;
    if (!data.url) view.inlineFor = data.id;
    view.pause();
    const received = performance.now();
    view.update(data).then((drawn) => {
      if (!drawn) return;
      view.root.dataset.ready = data.id;
      view.root.dataset.drawMs = String(performance.now() - received);  // new run: decode and draw
    })
      .catch((err) => { view.root.dataset.error = String(err); view.root.prepend(Object.assign(document.createElement("div"), { className: "ov-error", textContent: String(err) })); })
      .finally(() => askForTheRest(view, data));
  }
  return () => { view.pause(); };
}
