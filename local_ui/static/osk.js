// On-screen keyboard and PIN keypad: a kiosk browser hides the OS keyboard.
(function () {
  "use strict";
  var active = null;

  function insert(el, text) {
    if (!el) return;
    if (text === "back") { el.value = el.value.slice(0, -1); }
    else if (text === "clear") { el.value = ""; }
    else if (!el.maxLength || el.maxLength < 0 || el.value.length < el.maxLength) { el.value += text; }
    el.dispatchEvent(new Event("input", {bubbles: true}));
  }

  // PIN keypads: digits go to the keypad's target, or the last focused PIN field.
  document.querySelectorAll(".keypad").forEach(function (pad) {
    var form = pad.closest("form");
    var fields = form ? form.querySelectorAll("input.pin") : [];
    var last = fields.length ? fields[0] : null;
    fields.forEach(function (f) { f.addEventListener("focus", function () { last = f; }); });
    pad.addEventListener("click", function (ev) {
      var b = ev.target.closest("button[data-key]");
      if (!b) return;
      var target = pad.dataset.target ? document.getElementById(pad.dataset.target) : last;
      if (target && target.value.length >= (target.maxLength > 0 ? target.maxLength : 99) && b.dataset.key.length === 1) {
        var idx = Array.prototype.indexOf.call(fields, target);
        if (idx >= 0 && idx + 1 < fields.length) { target = fields[idx + 1]; last = target; }
      }
      if (pad.dataset.format === "time") { timeKey(target, b.dataset.key, pad); return; }
      insert(target, b.dataset.key);
    });
  });

  // Time keypad (24 h): digits fill HH:MM:SS from the left; the first digit replaces the suggested time.
  function timeKey(el, key, pad) {
    if (!el) return;
    var d = pad.dataset.typed ? el.value.replace(/\D/g, "") : "";
    pad.dataset.typed = "1";
    if (key === "back") d = d.slice(0, -1);
    else if (key === "clear") d = "";
    else if (d.length < 6) d += key;
    var parts = [];
    for (var i = 0; i < d.length; i += 2) parts.push(d.slice(i, i + 2));
    el.value = parts.join(":");
    el.dispatchEvent(new Event("input", {bubbles: true}));
  }

  // Text fields marked data-osk="text": a full keyboard slides up on focus.
  var rows = "1234567890qwertyuiopasdfghjkl-zxcvbnm,.?";
  var kb = null;
  var shift = false;
  function build() {
    kb = document.createElement("div");
    kb.className = "osk";
    kb.hidden = true;
    kb.setAttribute("role", "group");
    kb.setAttribute("aria-label", "keyboard");
    rows.split("").forEach(function (c) {
      var b = document.createElement("button");
      b.type = "button"; b.dataset.key = c; b.textContent = c;
      kb.appendChild(b);
    });
    [["shift", "⇧", "fn"], ["space", "␣", "wide"], ["back", "⌫", "fn"], ["done", "✓", "fn"]].forEach(function (d) {
      var b = document.createElement("button");
      b.type = "button"; b.dataset.key = d[0]; b.textContent = d[1]; b.className = d[2];
      b.setAttribute("aria-label", d[0]);
      kb.appendChild(b);
    });
    kb.addEventListener("mousedown", function (ev) { ev.preventDefault(); });
    kb.addEventListener("click", function (ev) {
      var b = ev.target.closest("button");
      if (!b || !active) return;
      var k = b.dataset.key;
      if (k === "done") { hide(); active.blur(); return; }
      if (k === "shift") { shift = !shift; kb.querySelectorAll("button[data-key]").forEach(function (x) {
        if (x.dataset.key.length === 1) x.textContent = shift ? x.dataset.key.toUpperCase() : x.dataset.key; }); return; }
      if (k === "space") { insert(active, " "); return; }
      if (k === "back") { insert(active, "back"); return; }
      insert(active, shift ? k.toUpperCase() : k);
    });
    document.body.appendChild(kb);
  }
  var coarse = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
  document.querySelectorAll("[data-osk=text]").forEach(function (el) {
    el.addEventListener("focus", function () {
      if (!coarse && !document.body.classList.contains("kiosk")) return;
      if (!kb) build();
      active = el; kb.hidden = false;
      // Room below the page so every button can scroll above the keyboard.
      document.body.style.paddingBottom = kb.offsetHeight + "px";
      keepAbove(el);
    });
  });
  // The focused field sits above the keyboard, with a little room to spare.
  function keepAbove(el) {
    var top = kb.getBoundingClientRect().top;
    var r = el.getBoundingClientRect();
    if (r.bottom > top - 8) window.scrollBy(0, r.bottom - top + 16);
    else if (r.top < 0) window.scrollBy(0, r.top - 16);
  }
  function hide() { if (kb) { kb.hidden = true; document.body.style.paddingBottom = ""; } }
  // Another field takes the focus: close the keyboard now. A button (e.g. "true alarm") keeps the
  // page still until its click went through; closing first would move the button from under the finger.
  document.addEventListener("focusin", function (ev) {
    if (!kb || kb.hidden || ev.target.matches("[data-osk=text]")) return;
    if (ev.target.matches("button, a, [role=button]")) return;
    hide();
  });
  document.addEventListener("click", function (ev) {
    // Hide once the focus left the field (a tap that only scrolled the page, or hit plain text, keeps it open).
    if (kb && !kb.hidden && !kb.contains(ev.target) && !(document.activeElement && document.activeElement.matches("[data-osk=text]")))
      setTimeout(hide, 0);
  });
})();
