// Time-series charts drawn in the browser with uPlot (served from the box, static/vendor/).
// - [data-spark]: Home's sparklines; #why-trend: the cause's signal around a guard trip.
//   History from /api/v1/trends (the recorder's samples),
//   then every value of the live stream (live.js re-dispatches it as "werkvloer:live").
//   A guard rule's limit is a dashed red line at that value.
// - [data-oee-chart]: OEE and A/P/Q per day or per shift from /api/v1/kpi/periods, the target as a line.
// No inline script, no eval: the page's CSP stays default-src 'self'.
(function () {
  "use strict";
  if (!window.uPlot) return;
  var BLUE = "#1f5fa8", RED = "#b00020", GREY = "#555";

  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (r) {
      if (!r.ok) throw new Error(url + ": HTTP " + r.status);
      return r.json();
    });
  }

  // ----- sparklines ---------------------------------------------------------------
  var sparks = [];  // {name, el, u, data, windowS, limits, lastT}

  // A vertical grey line at the trip (the why-card's trend).
  function tripLine(s) {
    return function (u) {
      if (!s.tripX) return;
      var x = u.valToPos(s.tripX, "x", true), ctx = u.ctx;
      ctx.save(); ctx.strokeStyle = GREY; ctx.lineWidth = 2 * (window.devicePixelRatio || 1);
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
      ctx.restore();
    };
  }

  function makeSpark(el, sig, windowS, tripNs) {
    var xs = sig.t.map(function (t) { return t / 1e9; });
    var data = [xs, sig.v.slice()];
    sig.limits.forEach(function (l) { data.push(xs.map(function () { return l.limit; })); });
    var s = {name: sig.name, el: el, data: data, windowS: windowS, limits: sig.limits,
             lastT: sig.t.length ? sig.t[sig.t.length - 1] : 0, tripX: tripNs ? tripNs / 1e9 : null};
    var series = [{}, {stroke: BLUE, width: 2, points: {show: false}, label: sig.label}];
    sig.limits.forEach(function (l) {
      series.push({stroke: RED, width: 1.5, dash: [6, 4], points: {show: false}, label: l.name});
    });
    var opts = {width: Math.max(80, el.clientWidth || 160), height: Math.max(32, el.clientHeight || 44),
                pxAlign: false, cursor: {show: false}, legend: {show: false}, select: {show: false},
                scales: {x: {time: true}}, axes: [{show: false}, {show: false}], series: series,
                hooks: {draw: [tripLine(s)]}};
    s.u = new window.uPlot(opts, data, el);
    el._uplot = s.u;
    sparks.push(s);
    mark(s);
    return s;
  }

  function mark(s) {
    var xs = s.data[0], ys = s.data[1], n = xs.length;
    s.el.dataset.points = String(n);
    s.el.dataset.lastT = n ? String(s.lastT) : "";
    s.el.dataset.lastV = n ? String(ys[n - 1]) : "";
    s.el.dataset.limits = JSON.stringify(s.limits.map(function (l) { return l.limit; }));
  }

  function startSparks() {
    var els = document.querySelectorAll("[data-spark]");
    if (!els.length) return;
    getJSON("/api/v1/trends").then(function (h) {
      h.signals.forEach(function (sig) {
        var el = document.querySelector('[data-spark="' + sig.name + '"]');
        if (el) makeSpark(el, sig, h.window_s, null);
      });
      document.body.dataset.sparks = "ready";
    }).catch(function () { document.body.dataset.sparks = "failed"; });
  }

  // The why-card: the trend of the cause's signal from a minute before the trip, with its limit.
  var WHY_BEFORE_S = 60;
  var why = {el: document.getElementById("why-trend"), key: null, spark: null};
  function updateWhy(cause) {
    if (!why.el) return;
    var key = cause && cause.trend_signal ? cause.trend_signal + "@" + cause.since_utc_ns : null;
    if (key === why.key) return;
    why.key = key;
    if (why.spark) { why.spark.u.destroy(); sparks.splice(sparks.indexOf(why.spark), 1); why.spark = null; }
    why.el.dataset.signal = "";
    if (!key) return;
    var since = Number(cause.since_utc_ns) || Date.now() * 1e6;
    var windowS = Math.min(3600, Math.max(120, Math.ceil((Date.now() * 1e6 - since) / 1e9) + WHY_BEFORE_S));
    getJSON("/api/v1/trends?signal=" + encodeURIComponent(cause.trend_signal) + "&window_s=" + windowS).then(function (h) {
      var sig = h.signals[0];
      if (!sig || why.key !== key) return;
      why.spark = makeSpark(why.el, sig, windowS, since);
      why.spark.windowS = 3600;  // keep the trip in view while the card stays
      why.el.dataset.signal = sig.name;
    }).catch(function () {});
  }

  function onLive(ev) {
    var msg = ev.detail || {};
    if (msg.home && msg.home.guard) updateWhy(msg.home.guard.cause);
    var values = msg.values || {};
    sparks.forEach(function (s) {
      var val = values[s.name];
      if (!val || typeof val.v !== "number" || (val.q !== undefined && val.q !== 0)) return;
      var t = Number(val.t || 0);
      if (!t || t <= s.lastT) return;  // the stream repeats the latest sample until a new one comes
      s.lastT = t;
      var x = t / 1e9, d = s.data;
      d[0].push(x); d[1].push(val.v);
      s.limits.forEach(function (l, i) { d[2 + i].push(l.limit); });
      var cut = 0;
      while (cut < d[0].length - 1 && d[0][cut] < x - s.windowS) cut++;
      if (cut) d.forEach(function (col) { col.splice(0, cut); });
      s.u.setData(d);
      mark(s);
    });
  }

  // ----- OEE per day / per shift against target ------------------------------------
  function pct(v) { return v === null || v === undefined ? "–" : Math.round(v * 100) + "\u00a0%"; }  // as fmt.pct
  // Dates as on the box's other screens: dd-mm-jjjj, 24 h; a shift key "2026-12-02/Vroeg" -> "02-12-2026 Vroeg".
  function periodText(p) {
    var m = /^(\d{4})-(\d{2})-(\d{2})(?:\/(.*))?$/.exec(String(p || ""));
    return m ? m[3] + "-" + m[2] + "-" + m[1] + (m[4] ? " " + m[4] : "") : String(p || "–");
  }
  var dayMonth = window.uPlot.fmtDate("{DD}-{MM}");

  // A line across the whole plot at the target (a constant series alone draws nothing for one point).
  function targetLine(target) {
    return function (u) {
      var ctx = u.ctx, y = u.valToPos(target, "y", true);
      ctx.save();
      ctx.strokeStyle = RED; ctx.lineWidth = 2 * (window.devicePixelRatio || 1);
      ctx.setLineDash([8, 5]);
      ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
      ctx.restore();
    };
  }

  function oeeChart(el) {
    var target = Number(el.dataset.target);
    var names = JSON.parse(el.dataset.names || "{}");
    var keys = ["oee", "availability", "performance", "quality"];
    var colours = {oee: BLUE, availability: "#1b7a3a", performance: "#8a5a00", quality: "#6b3fa0"};
    var tz = el.dataset.tz;
    var x0 = Number(el.dataset.fromS), x1 = Date.now() / 1000;
    getJSON(el.dataset.src).then(function (rows) {
      var xs = rows.map(function (r) { return r.start_ts / 1e9; });
      var data = [xs];
      keys.forEach(function (k) { data.push(rows.map(function (r) { return r[k] === undefined ? null : r[k]; })); });
      data.push(xs.map(function () { return target; }));
      var series = [{label: names.period || "", value: function (u, v, si, idx) {
        return idx === null || idx === undefined || !rows[idx] ? "–" : periodText(rows[idx].period); }}];
      keys.forEach(function (k) {
        series.push({label: names[k] || k, stroke: colours[k], width: k === "oee" ? 3 : 1.5,
                     points: {show: true, size: k === "oee" ? 8 : 5}, value: function (u, v) { return pct(v); }});
      });
      series.push({label: names.target || "target", stroke: RED, width: 0, dash: [8, 5], points: {show: false},
                   value: function (u, v) { return pct(v); }});
      var w = Math.max(280, el.clientWidth || 600);
      var font = "14px sans-serif";
      var opts = {width: w, height: Math.max(180, Math.min(320, Math.round(w * 0.45))), series: series,
                  scales: {x: {time: true, range: [x0 || (xs[0] || x1) - 86400, x1]}, y: {range: [0, 1.05]}},
                  axes: [{stroke: GREY, font: font, values: function (u, splits) {
                            return splits.map(function (ts) { return dayMonth(opts.tzDate ? opts.tzDate(ts) : new Date(ts * 1e3)); }); }},
                         {stroke: GREY, font: font, size: 56,
                          values: function (u, vals) { return vals.map(pct); }}],
                  cursor: {drag: {x: false, y: false}}, hooks: {draw: [targetLine(target)]}};
      if (tz && window.uPlot.tzDate) opts.tzDate = function (ts) { return window.uPlot.tzDate(new Date(ts * 1e3), tz); };
      var u = new window.uPlot(opts, data, el);
      el._uplot = u;
      // The legend shows the newest period until a finger picks another one.
      if (xs.length) u.setCursor({left: u.valToPos(xs[xs.length - 1], "x"), top: u.valToPos(rows[rows.length - 1].oee || 0, "y")});
      el.dataset.rows = String(rows.length);
      el.dataset.ready = "1";
      var empty = el.parentNode.querySelector("#" + el.id + "-empty");
      if (empty) empty.hidden = rows.length > 0;
    }).catch(function () { el.dataset.ready = "failed"; });
  }

  // A window that changes size (a laptop, a rotated screen): each chart takes its box's new width.
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    if (resizeTimer) clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      document.querySelectorAll("[data-spark], #why-trend, [data-oee-chart]").forEach(function (el) {
        var u = el._uplot;
        if (!u || !el.clientWidth) return;
        var w = Math.max(el.hasAttribute("data-oee-chart") ? 280 : 80, el.clientWidth);
        if (Math.abs(w - u.width) > 2) u.setSize({width: w, height: u.height});
      });
    }, 150);
  });

  startSparks();
  document.addEventListener("werkvloer:live", onLive);
  document.querySelectorAll("[data-oee-chart]").forEach(oeeChart);
})();
