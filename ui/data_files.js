// The page's data files (ui/static_files.py publish: a run's map data, a row of charts), fetched
// once per id and kept, the most recently used last, in a Map on window (so that a module
// served anew, its content changed, finds what the page already fetched). Where a file cannot be
// fetched (pruned, or the server restarted), the caller asks the server for that data inline
// (ui/static_files.py inline_asked) and keeps it here with `keep`. Prepended to the modules
// that use it by ui/static_files.with_data_files.

class DataFiles {
  constructor(name, kept) {
    this.cache = (window[name] = window[name] || new Map());  // id -> Promise of the parsed file
    this.kept = kept;
  }

  get(id, url) {
    // A Promise of the data of `url` (relative to the app's root) under `id`, fetched unless kept;
    // rejected when the file cannot be fetched, which is then tried again the next time.
    let got = this.cache.get(id);
    if (!got) {
      const base = window.location.pathname.replace(/[^/]*$/, "");
      got = fetch(base + url).then((r) => {
        if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
        return r.json();
      });
      got.catch(() => { if (this.cache.get(id) === got) this.cache.delete(id); });
    }
    this.use(id, got);
    return got;
  }

  keep(id, data) {
    // data the server sent inline for `id`: a return to it fetches nothing
    this.use(id, Promise.resolve(data));
  }

  use(id, got) {
    this.cache.delete(id);
    this.cache.set(id, got);
    while (this.cache.size > this.kept) this.cache.delete(this.cache.keys().next().value);
  }
}
