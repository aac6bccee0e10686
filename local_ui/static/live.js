// Live values over Server-Sent Events (/api/v1/live). Plain JavaScript, no library.
(function () {
  "use strict";
  var lang = document.documentElement.lang || "nl";
  var pill = document.getElementById("core-state");
  var banner = document.getElementById("core-banner");
  var STATES = ["running", "idle", "down", "planned", "setup", "no_data", "unknown"];

  // Booleans as words, numbers with 3 significant digits (at most 2 decimals), thin-space thousands (as the server).
  function fmt(v) {
    if (typeof v === "boolean") return v ? (document.body.dataset.yes || "1") : (document.body.dataset.no || "0");
    if (typeof v !== "number") return v === null || v === undefined ? "–" : String(v);
    var digits = Number.isInteger(v) || Math.abs(v) >= 100 ? 0 : (Math.abs(v) >= 10 ? 1 : 2);
    var nl = lang === "nl";
    var s = v.toLocaleString(nl ? "nl-NL" : "en-GB", {maximumFractionDigits: digits, minimumFractionDigits: digits});
    return s.split(nl ? "." : ",").join("\u2009");
  }

  // As the server's fmt.duration: "42 s", "3 min 05 s", "2 u 07 min".
  function duration(sec) {
    if (typeof sec !== "number") return "–";
    var s = Math.floor(sec), two = function (n) { return (n < 10 ? "0" : "") + n; };
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + two(s % 60) + " s";
    return Math.floor(s / 3600) + (lang === "nl" ? " u " : " h ") + two(Math.floor(s % 3600 / 60)) + " min";
  }

  function setCore(up) {
    if (!pill) return;
    pill.className = "pill " + (up ? "pill-up" : "pill-down");
    pill.textContent = up ? pill.dataset.coreUp : pill.dataset.coreDown;
    if (banner) banner.hidden = up;
    document.body.dataset.core = up ? "up" : "down";
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el && text !== undefined && text !== null && el.textContent !== String(text)) el.textContent = String(text);
  }

  function updateGuard(g) {
    var tile = document.getElementById("guard-tile");
    if (!tile || !g) return;
    var key = g.key || "unavailable";
    ["off", "shadow", "armed", "tripped", "unavailable"].forEach(function (k) { tile.classList.remove("guard-" + k); });
    tile.classList.add("guard-" + key);
    tile.dataset.guard = key;
    setText("guard-mode", g.label);
    var c = g.cause || {};
    var why = document.getElementById("why-card");
    if (why) why.hidden = !g.cause;
    setText("guard-cause", c.text || "");
    setText("guard-check", c.check || "");
    var refuse = document.getElementById("guard-refuse");
    if (refuse) { refuse.hidden = !c.refuse; refuse.textContent = c.refuse || ""; }
    var override = document.getElementById("guard-override");
    if (override) override.hidden = !c.override;
    var reset = document.getElementById("guard-reset-form");
    if (reset) reset.hidden = key !== "tripped";
  }

  // Home: every figure from the one snapshot the server formatted (/api/v1/home).
  function updateHome(h) {
    var tile = document.getElementById("state-tile");
    if (tile && h.machine) {
      STATES.forEach(function (k) { tile.classList.remove("state-" + k); });
      tile.classList.add("state-" + h.machine.key);
      tile.dataset.state = h.machine.key;
      setText("state-label", h.machine.label);
      setText("state-since", h.machine.since);
    }
    var oee = document.getElementById("oee-tile");
    if (oee && h.oee) {
      oee.dataset.available = h.oee.available ? "1" : "0";
      if (h.oee.available) {
        setText("oee-value", h.oee.text);
        ["availability", "performance", "quality"].forEach(function (k) {
          var bar = document.getElementById("oee-bar-" + k);
          if (bar) bar.value = h.oee[k] || 0;
          setText("oee-" + k, h.oee.parts[k]);
        });
      }
    }
    var rate = document.getElementById("rate-tile");
    if (rate && h.rate) {
      rate.dataset.available = h.rate.available ? "1" : "0";
      if (h.rate.available) {
        setText("rate-value", h.rate.parts_per_hour_text);
        setText("rate-good", h.rate.good_text);
        setText("rate-scrap", h.rate.scrap_text);
      }
    }
    var stop = document.getElementById("stop-tile");
    if (stop && h.stop) {
      stop.dataset.open = h.stop.open ? "1" : "0";
      stop.dataset.reason = h.stop.reason ? "1" : "0";
      if (h.stop.open) { setText("stop-duration", h.stop.duration); setText("stop-reason", h.stop.reason_label || ""); }
      var row = document.getElementById("stop-needing-row");
      if (row) row.hidden = !h.stop.needing;
      setText("stop-needing", h.stop.needing || 0);
    }
    var andon = document.getElementById("andon");
    if (andon && h.andon) {
      andon.hidden = !h.andon.state;
      andon.dataset.light = h.andon.state || "";
      ["green", "amber", "red"].forEach(function (c) {
        var lamp = document.getElementById("lamp-" + c);
        if (lamp) lamp.classList.toggle("on", !!(h.andon.lamps && h.andon.lamps[c]));
      });
      setText("andon-label", h.andon.label || "");
    }
    // A live value beyond a guard rule's limit: the row in red with the words "above limit 20,0 A"
    // (not colour alone: gloves, sunlight, colour blindness), its sparkline framed; cleared when it is back.
    var beyond = h.beyond || {};
    document.querySelectorAll("[data-beyond-for]").forEach(function (badge) {
      var name = badge.dataset.beyondFor, b = beyond[name], row = badge.closest("tr");
      if (row) row.classList.toggle("beyond", !!b);
      badge.hidden = !b;
      badge.dataset.kind = b ? b.kind : "";
      if (b && badge.textContent !== b.text) badge.textContent = b.text;
      var spark = row && row.querySelector("[data-spark]");
      if (spark) spark.dataset.beyond = b ? "1" : "0";
    });
    var home = document.getElementById("home");
    if (home) home.dataset.snapshotTs = String(h.utc_ns || "");
  }

  function updateBadge(h) {
    var badge = document.getElementById("alerts-badge");
    if (!badge || !h.alerts) return;
    var n = h.alerts.unacknowledged;
    badge.hidden = !n;
    badge.textContent = n ? String(n) : "";
  }

  // Model status page: each binding's score, alarm and gap counters from the guard's status in the stream.
  function updateModels(g) {
    if (!g || !g.models) return;
    g.models.forEach(function (b) {
      var card = document.querySelector('[data-binding="' + String(b.name).replace(/"/g, "") + '"]');
      if (!card) return;
      var put = function (k, text) { var el = card.querySelector('[data-ms="' + k + '"]'); if (el && el.textContent !== text) el.textContent = text; };
      if (typeof b.last_score === "number") {
        put("score", b.last_score.toLocaleString(lang === "nl" ? "nl-NL" : "en-GB", {minimumFractionDigits: 2, maximumFractionDigits: 2}));
        var thr = Number(card.dataset.threshold);
        var meter = card.querySelector('[data-ms="meter"]');
        if (meter && thr > 0) meter.value = Math.max(0, Math.min(1, b.last_score / (2 * thr)));
      }
      // A gate signal without a good value (the guard's gate.lost): not scoring, degraded, for how long.
      var gate = b.gate || {};
      var lost = !!gate.lost && b.state === "ok";
      card.dataset.gateLost = lost ? "1" : "0";
      var lostBanner = card.querySelector('[data-ms="gate-lost"]');
      if (lostBanner) lostBanner.hidden = !lost;
      if (lost && card.dataset.gateTemplate) put("gate-text", card.dataset.gateTemplate.replace("{d}", duration(gate.no_good_value_s)));
      var tag = card.querySelector('[data-ms="state"]');
      if (tag && b.state === "ok" && card.dataset.stateOk) {
        tag.classList.toggle("sev-warning", lost);
        put("state", lost ? card.dataset.stateDegraded : card.dataset.stateOk);
      }
      var alarm = card.querySelector('[data-ms="alarm"]');
      if (alarm) alarm.hidden = !b.alarm;
      ["windows", "skipped_hops", "gaps"].forEach(function (k) {
        if (typeof b[k] === "number") put(k === "skipped_hops" ? "skipped" : k, fmt(b[k]));
      });
    });
  }

  function onMessage(ev) {
    var msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (msg.home) updateBadge(msg.home);
    if (msg.core === "connecting") return;
    if (msg.home) { updateHome(msg.home); updateGuard(msg.home.guard); }
    if (msg.core !== "up") { setCore(false); return; }
    setCore(true);
    var dbBanner = document.getElementById("db-banner");  // a database write failing (the core's db_write_failing)
    if (dbBanner) dbBanner.hidden = !(msg.db_write_failing && msg.db_write_failing.length);
    updateModels(msg.guard);
    var values = msg.values || {};
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var s = values[el.dataset.live];
      if (!s) return;
      el.textContent = fmt(s.v);
      el.classList.toggle("stale", s.q !== undefined && s.q !== "GOOD" && s.q !== 0);
    });
    document.body.dataset.liveTs = String(Date.now());
    // Other scripts of the page (sparklines, the timeline) take the same message.
    document.dispatchEvent(new CustomEvent("werkvloer:live", {detail: msg}));
  }

  // A server-drawn region that follows the machine (today's timeline bars): on each change of the
  // machine state or the current stop, and every minute, fetch the page again and swap the region.
  // Without JavaScript the page is the same, only not live (and the printed report never needs it).
  var region = document.querySelector("[data-live-refresh]");
  var regionKey = null, regionBusy = false, regionAgain = false;
  function refreshRegion() {
    if (regionBusy) { regionAgain = true; return; }
    regionBusy = true;
    fetch(location.href, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (!html) return;
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
      if (!fresh) return;
      region.innerHTML = fresh.innerHTML;
      region.dataset.refreshed = String(Number(region.dataset.refreshed || 0) + 1);
    }).catch(function () {}).then(function () {
      regionBusy = false;
      if (regionAgain) { regionAgain = false; refreshRegion(); }
    });
  }
  if (region) {
    document.addEventListener("werkvloer:live", function (ev) {
      var h = ev.detail.home;
      if (!h || !h.machine) return;
      var key = [h.machine.key, h.stop && h.stop.id, h.stop && h.stop.open, h.stop && h.stop.needs_reason].join("|");
      if (regionKey !== null && key !== regionKey) refreshRegion();
      regionKey = key;
    });
    setInterval(refreshRegion, 60000);
  }

  if (window.EventSource && pill) {
    var es = new EventSource("/api/v1/live?view=home");
    es.onmessage = onMessage;
    // The stream broke (the UI restarts, the page is leaving): not the same as the core being down.
    es.onerror = function () { if (pill) { pill.className = "pill pill-unknown"; pill.textContent = "…"; } };
  }

  // Idle logout at the box: after idle-s without a touch, reload; the server then shows the operator's screen.
  var idle = Number(document.body.dataset.idleS || 0);
  if (idle > 0) {
    var timer = null;
    var arm = function () { if (timer) clearTimeout(timer); timer = setTimeout(function () { location.reload(); }, idle * 1000 + 500); };
    ["pointerdown", "keydown", "touchstart"].forEach(function (ev) { document.addEventListener(ev, arm, {passive: true}); });
    arm();
  }
  // The shift report's print button (no inline script: the page's CSP forbids it).
  document.querySelectorAll("[data-print]").forEach(function (b) { b.addEventListener("click", function () { window.print(); }); });
})();
