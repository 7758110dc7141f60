/*
 * Live regions without a page reload. Every element with a data-live-url attribute is
 * refreshed from that URL (a server-rendered HTML fragment) every few seconds. The DOM is
 * only touched when the fragment changed, so screen readers (aria-live) announce real
 * changes only. Polling pauses while the tab is hidden; failures are retried next tick.
 */
(function () {
  "use strict";

  var INTERVAL_MS = 2500;
  var status = document.querySelector("[data-live-status]");

  function showStatus(ok) {
    if (!status) return;
    status.hidden = false;
    status.textContent = ok ? "Live" : "Reconnecting…";
    status.classList.toggle("is-offline", !ok);
  }

  function watch(region) {
    var busy = false;

    function refresh() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(region.dataset.liveUrl, { cache: "no-store", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          // Compare as the browser serialises both, so an unchanged fragment is a no-op.
          var fresh = document.createElement("div");
          fresh.innerHTML = html;
          if (fresh.innerHTML !== region.innerHTML) region.innerHTML = fresh.innerHTML;
          showStatus(true);
        })
        .catch(function () {
          showStatus(false);
        })
        .finally(function () {
          busy = false;
        });
    }

    setInterval(refresh, INTERVAL_MS);
    document.addEventListener("visibilitychange", refresh);
  }

  var regions = document.querySelectorAll("[data-live-url]");
  regions.forEach(watch);
  if (regions.length) showStatus(true);
})();
