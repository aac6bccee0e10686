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
      insert(target, b.dataset.key);
    });
  });

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
      el.scrollIntoView({block: "center"});
    });
  });
  function hide() { if (kb) { kb.hidden = true; document.body.style.paddingBottom = ""; } }
  document.addEventListener("focusin", function (ev) {
    if (kb && !ev.target.matches("[data-osk=text]")) hide();
  });
})();
