/*
 * Live regions without a page reload. Every element with a data-live-url attribute (a
 * server-rendered HTML fragment of itself) stays current:
 *
 * - With a data-stream-url, it follows that Server-Sent Events stream (the stream server,
 *   docs/streams.md). An `entries` event is drawn into the region's table in place; a
 *   `rank` event (the player found) fetches the region's fragment once. A `finalized`
 *   event ends it: the board's results are final.
 * - Without one, or while the stream cannot be had (no stream server, refused, dropped),
 *   it polls the fragment every few seconds, and tries the stream again after a delay that
 *   doubles with each failure (2 s to 5 min, jittered, so a restarted stream server is not
 *   met by every page at once; a stream silent for 10 s after its request has failed). Polling also backs off while the fragment fails, and pauses
 *   while the tab is hidden.
 *
 * The DOM is only touched when something changed, so screen readers (aria-live) announce
 * real changes only. Each region says how it is kept current in data-live-mode (`stream`,
 * `poll` or `final`).
 */
(function () {
  "use strict";

  var POLL_MS = 2500;
  var POLL_MAX_MS = 30000;
  var STREAM_RETRY_MS = 2000;
  var STREAM_RETRY_MAX_MS = 300000;
  var STREAM_CONNECT_TIMEOUT_MS = 10000;
  var status = document.querySelector("[data-live-status]");
  var scoreFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  function showStatus(text, ok) {
    if (!status) return;
    status.hidden = false;
    status.textContent = text;
    status.classList.toggle("is-offline", !ok);
  }

  // Polls the region's fragment while started: every POLL_MS, up to POLL_MAX_MS after
  // failures. refresh() fetches once now (also used by the stream when it must).
  function poller(region) {
    var busy = false;
    var timer = null;
    var running = false;
    var delay = POLL_MS;

    function schedule() {
      clearTimeout(timer);
      timer = running ? setTimeout(tick, delay) : null;
    }

    function tick() {
      if (document.hidden) return schedule();
      refresh().then(schedule);
    }

    function refresh() {
      if (busy) return Promise.resolve();
      busy = true;
      return fetch(region.dataset.liveUrl, { cache: "no-store", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          // Compare as the browser serialises both, so an unchanged fragment is a no-op.
          var fresh = document.createElement("div");
          fresh.innerHTML = html;
          if (fresh.innerHTML !== region.innerHTML) region.innerHTML = fresh.innerHTML;
          delay = POLL_MS;
          showStatus("Live", true);
        })
        .catch(function () {
          delay = Math.min(delay * 2, POLL_MAX_MS);
          showStatus("Reconnecting…", false);
        })
        .finally(function () {
          busy = false;
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (running && !document.hidden) tick();
    });

    return {
      refresh: refresh,
      start: function () {
        if (running) return;
        running = true;
        region.dataset.liveMode = "poll";
        schedule();
      },
      stop: function () {
        running = false;
        schedule();
      },
    };
  }

  function row(entry, highlight) {
    var tr = document.createElement("tr");
    tr.dataset.playerId = entry.player_id;
    if (highlight && entry.player_id === highlight) {
      tr.className = "is-me";
      tr.setAttribute("aria-current", "true");
    }
    var rank = document.createElement("td");
    rank.className = "num rank" + (entry.rank <= 3 ? " rank-" + entry.rank : "");
    rank.textContent = entry.rank;
    var player = document.createElement("th");
    player.scope = "row";
    player.className = "player";
    player.append(entry.display_name);
    if (entry.display_name !== entry.player_id) {
      var id = document.createElement("span");
      id.className = "player-id";
      id.textContent = entry.player_id;
      player.append(" ", id);
    }
    var score = document.createElement("td");
    score.className = "num score";
    score.textContent = scoreFormat.format(entry.score);
    tr.append(rank, player, score);
    return tr;
  }

  // Draws an `entries` event (the top down to the page shown) into the region's table and
  // pager summary. When the page's shape must change (the first scores of an empty board,
  // a next page appearing), returns false: the caller fetches the fragment instead.
  function drawEntries(region, data) {
    var offset = Number(region.dataset.streamOffset || 0);
    var shown = data.results.slice(offset);
    var tbody = region.querySelector("table.standings tbody");
    var summary = region.querySelector(".pager-summary");
    var hasNext = !!region.querySelector("a[rel=next]");
    if (!shown.length || !tbody || !summary || hasNext !== offset + shown.length < data.count) {
      return false;
    }
    var fresh = document.createElement("tbody");
    shown.forEach(function (entry) {
      fresh.append(row(entry, region.dataset.highlight));
    });
    if (fresh.innerHTML !== tbody.innerHTML) tbody.replaceChildren.apply(tbody, Array.from(fresh.children));
    var text =
      "Showing " + (offset + 1) + "–" + (offset + shown.length) + " of " + data.count +
      " player" + (data.count === 1 ? "" : "s");
    if (summary.textContent !== text) summary.textContent = text;
    return true;
  }

  function follow(region) {
    var poll = poller(region);
    var source = null;
    var failures = 0;

    function onEvent(event) {
      failures = 0;
      if (region.dataset.streamEvent === "entries") {
        if (!drawEntries(region, JSON.parse(event.data))) poll.refresh();
      } else {
        poll.refresh();
      }
    }

    // Refused (429, 404), unreachable, silent or dropped: poll meanwhile, and try again
    // later rather than at EventSource's own fixed pace.
    function fail(current) {
      if (current !== source) return;
      current.close();
      source = null;
      poll.start();
      var wait = Math.min(STREAM_RETRY_MAX_MS, STREAM_RETRY_MS * Math.pow(2, failures));
      failures += 1;
      setTimeout(connect, wait * (0.5 + Math.random() / 2));
    }

    function connect() {
      var current = new EventSource(region.dataset.streamUrl);
      var giveUp = setTimeout(function () {
        fail(current);
      }, STREAM_CONNECT_TIMEOUT_MS);
      source = current;
      current.addEventListener("open", function () {
        clearTimeout(giveUp);
        poll.stop();
        region.dataset.liveMode = "stream";
        showStatus("Live", true);
      });
      current.addEventListener(region.dataset.streamEvent, onEvent);
      current.addEventListener("finalized", function () {
        current.close();
        source = null;
        poll.stop();
        region.dataset.liveMode = "final";
        showStatus("Final", true);
      });
      current.addEventListener("error", function () {
        clearTimeout(giveUp);
        fail(current);
      });
    }

    if (region.dataset.streamUrl && window.EventSource) {
      connect();
    } else {
      poll.start();
    }
  }

  var regions = document.querySelectorAll("[data-live-url]");
  regions.forEach(follow);
  if (regions.length) showStatus("Live", true);
})();
