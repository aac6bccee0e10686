// Live values over Server-Sent Events (/api/v1/live). Plain JavaScript, no library.
(function () {
  "use strict";
  var lang = document.documentElement.lang || "nl";
  var pill = document.getElementById("core-state");
  var banner = document.getElementById("core-banner");
  var STATES = ["running", "idle", "down", "planned", "setup", "no_data", "unknown"];

  function fmt(v) {
    if (typeof v === "boolean") return v ? "1" : "0";
    if (typeof v !== "number") return v === null || v === undefined ? "–" : String(v);
    var digits = Math.abs(v) >= 100 ? 0 : (Math.abs(v) >= 10 ? 1 : 2);
    return v.toLocaleString(lang === "nl" ? "nl-NL" : "en-GB", {maximumFractionDigits: digits, minimumFractionDigits: 0});
  }

  function stateKey(s) {
    if (s === null || s === undefined) return "unknown";
    if (typeof s === "number") return ({0: "idle", 1: "running", 2: "down", 3: "setup"})[s] || "unknown";
    s = String(s).toLowerCase().replace(/[- ]/g, "_");
    if (STATES.indexOf(s) >= 0) return s;
    if (s.indexOf("down_planned") === 0 || s === "planned_down" || s === "break") return "planned";
    if (s.indexOf("down") === 0) return "down";
    if (s === "nodata" || s === "stale") return "no_data";
    return "unknown";
  }

  function setCore(up) {
    if (!pill) return;
    pill.className = "pill " + (up ? "pill-up" : "pill-down");
    pill.textContent = up ? pill.dataset.coreUp : pill.dataset.coreDown;
    if (banner) banner.hidden = up;
    document.body.dataset.core = up ? "up" : "down";
  }

  function updateState(st) {
    var tile = document.getElementById("state-tile");
    if (!tile || !st) return;
    var key = stateKey(st.state !== undefined ? st.state : st.machine_state);
    STATES.forEach(function (k) { tile.classList.remove("state-" + k); });
    tile.classList.add("state-" + key);
    var label = document.getElementById("state-label");
    var text = tile.getAttribute("data-label-" + key);
    if (label && text) label.textContent = text;
    tile.dataset.state = key;
  }

  // The guard's cause: {kind: "rule"|"model", name, signal} -> "vastgelopen (motor_current)".
  function causeText(c) {
    if (!c) return "";
    if (typeof c !== "object") return String(c);
    return (c.name || c.kind || "") + (c.signal ? " (" + c.signal + ")" : "");
  }

  function updateGuard(g) {
    var tile = document.getElementById("guard-tile");
    if (!tile || !g) return;
    var key = g.tripped ? "tripped" : (["off", "shadow", "armed"].indexOf(g.mode) >= 0 ? g.mode : "unavailable");
    ["off", "shadow", "armed", "tripped", "unavailable"].forEach(function (k) { tile.classList.remove("guard-" + k); });
    tile.classList.add("guard-" + key);
    tile.dataset.guard = key;
    var mode = document.getElementById("guard-mode");
    var text = tile.getAttribute("data-label-" + key);
    if (mode && text) mode.textContent = text;
    var cause = document.getElementById("guard-cause");
    if (cause) cause.textContent = g.tripped ? causeText(g.cause) : "";
    var reset = document.getElementById("guard-reset-form");
    if (reset) reset.hidden = !g.tripped;
  }

  function onMessage(ev) {
    var msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (msg.core === "connecting") return;
    if (msg.core !== "up") { setCore(false); updateGuard({mode: "unavailable"}); return; }
    setCore(true);
    var values = msg.values || {};
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var s = values[el.dataset.live];
      if (!s) return;
      el.textContent = fmt(s.v);
      el.classList.toggle("stale", s.q !== undefined && s.q !== "GOOD" && s.q !== 0);
    });
    // Machine state: the KPI engine's when it runs, else the PLC's own state word.
    var st = msg.state;
    if (!st && values.machine_state) st = {state: values.machine_state.v};
    else if (!st && values.running) st = {state: values.running.v ? "running" : "idle"};
    updateState(st);
    updateGuard(msg.guard);
    document.body.dataset.liveTs = String(Date.now());
  }

  if (window.EventSource && pill) {
    var es = new EventSource("/api/v1/live");
    es.onmessage = onMessage;
    es.onerror = function () { setCore(false); };
  }
})();
