// Progressive enhancement only: every page works without this file.
// Live countdowns to contact deadlines (REF-3), copying the outreach text, and a running
// integration check's report kept up to date.
(function () {
  "use strict";
  function render(el, offsetMs) {
    var left = Date.parse(el.dataset.deadline) - (Date.now() + offsetMs);
    if (isNaN(left)) { return; }
    if (left <= 0) { el.textContent = "deadline passed"; return; }
    var hours = Math.floor(left / 3600000), minutes = Math.floor((left % 3600000) / 60000);
    var days = Math.floor(hours / 24);
    el.textContent = "(" + (days > 0 ? days + " d " : "") + (hours % 24) + " h " + minutes + " min)";
  }
  document.querySelectorAll(".countdown").forEach(function (el) {
    // The server's program clock may differ from this browser's: count from the server's now.
    var offset = Date.parse(el.dataset.now) - Date.now();
    if (isNaN(offset)) { offset = 0; }
    render(el, offset);
    setInterval(function () { render(el, offset); }, 30000);
  });
  // A running integration check's report (issue 25): the report is fetched again every few
  // seconds and put in place, until the run has ended. Without this file, reloading does it.
  var report = document.getElementById("report");
  function follow() {
    fetch(window.location.href, { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("report");
      if (!fresh) { return; }
      report.innerHTML = fresh.innerHTML;
      report.dataset.live = fresh.dataset.live;
      if (fresh.dataset.live === "true") { setTimeout(follow, 3000); }
    }).catch(function () { setTimeout(follow, 10000); });
  }
  if (report && report.dataset.live === "true") { setTimeout(follow, 3000); }
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      if (!source) { return; }
      source.select();
      if (navigator.clipboard) { navigator.clipboard.writeText(source.value); } else { document.execCommand("copy"); }
      button.textContent = "Copied";
    });
  });
})();
