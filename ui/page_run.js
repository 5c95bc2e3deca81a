// Shared by the components that send a trigger of their own accord, not at a user's click
// (prepended to their modules: ui/assets.py with_page_run).

function pageRunning() {
  const app = document.querySelector('[data-testid="stApp"]');  // looked up anew: React may replace it
  return !!app && app.getAttribute("data-test-script-state") === "running";
}

function afterTheRun(fn) {
  // fn once the page's script run is over. A trigger sent during a run reruns the page with the
  // widgets' values as the browser still holds them, undoing what that run's callbacks set (the
  // live slider's release sets its number box on the server: the lr would go back).
  const running = pageRunning;
  const settled = () => setTimeout(() => (running() ? afterTheRun(fn) : fn()), 250);  // the run's last deltas applied
  if (!running()) { settled(); return; }
  const watch = new MutationObserver(() => {
    if (running()) return;
    watch.disconnect();
    settled();
  });
  watch.observe(document.body, { attributes: true, attributeFilter: ["data-test-script-state"], childList: true, subtree: true });
}
