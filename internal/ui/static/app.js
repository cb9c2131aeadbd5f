// Comfort only: every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: shown only when the clipboard is there to use.
  document.querySelectorAll("button.copy[data-copy]").forEach(function (btn) {
    if (!navigator.clipboard) { return; }
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var src = document.getElementById(btn.getAttribute("data-copy"));
      if (!src) { return; }
      navigator.clipboard.writeText(src.textContent).then(function () {
        btn.textContent = "Copied";
        setTimeout(function () { btn.textContent = "Copy"; }, 2000);
      }, function () {
        btn.textContent = "Copy failed";
      });
    });
  });
  // Live filter of a table's rows by their data-name.
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-filter"));
    if (!table) { return; }
    input.closest(".filter").hidden = false;
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        tr.hidden = q !== "" && (tr.getAttribute("data-name") || "").toLowerCase().indexOf(q) < 0;
      });
    });
  });
});
