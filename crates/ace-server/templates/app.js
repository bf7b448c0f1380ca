// Progressive enhancement only: every page works without this file.
// Live countdowns to contact deadlines (REF-3), and copying the outreach text.
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
