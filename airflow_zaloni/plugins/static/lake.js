// The Lake view inside the Airflow UI: the UI's theme and time zone, applied to this server-rendered page.
// No value from the lake is ever inserted as HTML here: times are rewritten with textContent only.
(function () {
  "use strict";
  // Colour tokens of the UI's Chakra theme used by lake.css.
  var TOKENS = [
    "--chakra-colors-bg", "--chakra-colors-bg-subtle", "--chakra-colors-bg-muted", "--chakra-colors-fg",
    "--chakra-colors-fg-muted", "--chakra-colors-border", "--chakra-colors-fg-error", "--chakra-colors-fg-success",
    "--chakra-colors-fg-warning", "--chakra-colors-blue-fg", "--chakra-fonts-body", "--chakra-fonts-mono"
  ];

  function uiDocument() {
    try {
      if (window.parent !== window && window.parent.document) { return window.parent.document; }
    } catch (e) { /* another origin: keep the fallbacks */ }
    return null;
  }

  function applyTheme() {
    var ui = uiDocument();
    if (!ui) { return; }
    var root = document.documentElement;
    var dark = ui.documentElement.classList.contains("dark");
    root.classList.toggle("dark", dark);
    root.classList.toggle("light", !dark);
    var styles = window.parent.getComputedStyle(ui.documentElement);
    TOKENS.forEach(function (name) {
      var value = styles.getPropertyValue(name).trim();
      if (value) { root.style.setProperty(name, value); } else { root.style.removeProperty(name); }
    });
  }

  // The UI keeps the user's time zone in localStorage "timezone" (JSON), defaulting to the browser's.
  function timeZone() {
    try {
      var stored = window.localStorage.getItem("timezone");
      if (stored) {
        var zone = JSON.parse(stored);
        new Intl.DateTimeFormat("en-CA", { timeZone: zone });
        return zone;
      }
    } catch (e) { /* unreadable or unknown zone: the browser's */ }
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  }

  function applyTimeZone() {
    var zone = timeZone();
    var format = new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hourCycle: "h23", timeZoneName: "short"
    });
    document.documentElement.setAttribute("data-timezone", zone);
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) { return; }
      var parts = {};
      format.formatToParts(when).forEach(function (p) { parts[p.type] = p.value; });
      el.textContent = parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute +
        ":" + parts.second + " " + parts.timeZoneName;
    });
  }

  // Links into the UI (runs, tasks) leave the frame. The UI's frame is sandboxed without top navigation, so a
  // target="_top" link does nothing there: the UI's own router (same origin) is moved to the link instead.
  function openInUi(event) {
    var link = event.target.closest && event.target.closest("a[target=_top]");
    var ui = uiDocument();
    if (!link || !ui || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
        event.shiftKey || event.altKey) { return; }
    var url = new URL(link.getAttribute("href"), window.location.href);
    if (url.origin !== window.location.origin) { return; }
    event.preventDefault();
    window.parent.history.pushState(null, "", url.pathname + url.search + url.hash);
    window.parent.dispatchEvent(new PopStateEvent("popstate", { state: null }));
  }

  function start() {
    document.addEventListener("click", openInUi);
    applyTheme();
    applyTimeZone();
    var ui = uiDocument();
    if (ui && window.MutationObserver) {
      new MutationObserver(applyTheme).observe(ui.documentElement, { attributes: true, attributeFilter: ["class", "style"] });
    }
    window.addEventListener("storage", function (event) {
      if (!event.key || event.key === "timezone") { applyTimeZone(); }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
