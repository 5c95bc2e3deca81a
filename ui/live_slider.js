// A slider over a grid of values that reports while it moves. Every position it passes through
// (drag or arrow key) goes to the page's other components as a window event "optvis:slider"
// {id, index, value, final}; the map component draws the engine's run at that value from its
// preview. The release (or a key press, which is a release) goes to the server as the "pick"
// trigger, which sets the exact number input and reruns the page. When the pointer or the focus
// comes to the slider, "optvis:want" {id} asks for its preview (ui/map_preview.js).

const EVENT = "optvis:slider";
const WANT = "optvis:want";  // {id}: the pointer or the focus came to this slider

function logNotch(data, i) {
  // [mantissa, exponent] of notch i of a log grid (ui/live_slider.py log_form), null for its zero
  const [mantissas, e0, start, zero] = data.log;
  if (zero && i === 0) return null;
  const j = start + i - (zero ? 1 : 0);
  return [mantissas[j % mantissas.length], e0 + Math.floor(j / mantissas.length)];
}

export function value(data, i) {
  if (data.grid) return data.grid[i];
  if (data.log) {  // as ui/widgets.log_grid: the decimal "m e exponent" read as a double, as Python's float() reads it
    const notch = logNotch(data, i);
    return notch ? Number(`${notch[0]}e${notch[1]}`) : 0;
  }
  // as ui/widgets.notch: low + i * step to 12 significant digits
  return Number((data.linear[0] + i * data.linear[1]).toPrecision(12));
}

export function text(data, i) {
  if (data.labels) return data.labels[i];
  if (data.log) {  // as Python's f"{v:g}": m·10^e in exponent form below 1e-4 and from 1e6, else as a decimal
    const notch = logNotch(data, i);
    if (!notch) return data.off;
    const [m, e] = notch;
    return e < -4 || e >= 6 ? `${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}` : String(value(data, i));
  }
  const v = value(data, i);
  return data.fmt === "%.4f" ? v.toFixed(4) : String(Number(v.toPrecision(6)));
}

class LiveSlider {
  constructor(parent) {
    this.root = document.createElement("div");
    this.root.className = "ls-root";
    this.root.innerHTML = `<div class="ls-head"><label class="ls-label"></label><span class="ls-value"></span></div>
      <input class="ls-input" type="range" min="0" max="0" step="1" value="0">`;
    parent.appendChild(this.root);
    this.input = this.root.querySelector(".ls-input");
    this.value = this.root.querySelector(".ls-value");
    this.label = this.root.querySelector(".ls-label");
    this.held = false;  // pointer down: the server's value does not move the thumb under the finger
    // the map's preview of this slider, asked for before the drag starts (ui/map_preview.js)
    const want = () => window.dispatchEvent(new CustomEvent(WANT, { detail: { id: this.data && this.data.id } }));
    for (const name of ["pointerenter", "focus"]) this.input.addEventListener(name, want);
    this.input.addEventListener("pointerdown", () => { this.held = true; want(); });
    this.input.addEventListener("pointerup", () => { this.held = false; });
    this.input.addEventListener("input", () => this.moved(false));
    this.input.addEventListener("change", () => { this.held = false; this.moved(true); });
  }

  sameGrid(data) {
    const old = this.data;
    return !!old && old.count === data.count && JSON.stringify([old.log, old.linear, old.grid]) === JSON.stringify([data.log, data.linear, data.grid]);
  }

  update(data, trigger) {
    const keep = this.data && this.sameGrid(data);
    if (!keep) this.seq = 0;  // another grid (another slider in this place): its own picks
    this.data = data;
    this.trigger = trigger;
    const id = "ls-" + data.id.replace(/[^A-Za-z0-9_-]/g, "_");
    this.input.id = id;
    this.label.htmlFor = id;
    this.label.textContent = data.label;
    this.root.title = data.help || "";
    this.input.max = String(data.count - 1);
    this.input.setAttribute("aria-label", data.label);
    // a run that has not seen this slider's last pick yet (a burst of presses outruns the reruns)
    // must not move the thumb back under the user's keys; the run that has seen it sets it
    const unseen = (data.seq || 0) < (this.seq || 0) && this.sameGrid(data);
    if (!this.held && !unseen && Number(this.input.value) !== data.index) this.input.value = String(data.index);
    this.show(Number(this.input.value));
  }

  show(i) {
    const t = text(this.data, i), node = this.value.firstChild;
    // in place: a new text node would have Streamlit's :has() rules restyle the whole page on every move
    if (node && node.nodeType === Node.TEXT_NODE && !node.nextSibling) node.data = t;
    else this.value.textContent = t;
    this.input.setAttribute("aria-valuetext", t);
  }

  moved(final) {
    const i = Number(this.input.value), v = value(this.data, i);
    this.show(i);
    window.dispatchEvent(new CustomEvent(EVENT, { detail: { id: this.data.id, index: i, value: v, final } }));
    if (final) {
      this.seq = Math.max(this.seq || 0, this.data.seq || 0) + 1;
      this.trigger("pick", { value: v, index: i, seq: this.seq });
    }
  }
}

export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  if (!data) return;
  let view = parentElement.__optvisSlider;
  if (!view) {
    view = new LiveSlider(parentElement);
    parentElement.__optvisSlider = view;
  }
  view.update(data, setTriggerValue);
}
