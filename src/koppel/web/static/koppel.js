// koppel workspace: a little progressive enhancement; every page works without it.
(function () {
  "use strict";
  // Ask before actions that cannot be undone (forms with data-confirm).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    // Show that slow work (a sync, an ERP call) is under way and prevent double submits.
    var button = event.submitter || form.querySelector("button[type=submit]");
    if (button && button.getAttribute("data-busy")) {
      window.setTimeout(function () {
        button.textContent = button.getAttribute("data-busy");
        button.disabled = true;
        button.classList.add("busy");
      }, 0);
    }
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-busy]");
    if (link) { link.textContent = link.getAttribute("data-busy"); link.classList.add("busy"); }
  });
  // A choice that takes effect at once (the language): send its form on change.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.querySelectorAll("[data-js-hide]").forEach(function (element) { element.hidden = true; });
  // Order entry: add and remove product lines.
  var lines = document.getElementById("lines");
  var add = document.getElementById("add-line");
  if (lines && add) {
    add.addEventListener("click", function () {
      var rows = lines.querySelectorAll("tbody tr.line");
      var copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelector("select").value = "";
      copy.querySelector("input").value = "1";
      lines.querySelector("tbody").appendChild(copy);
    });
    lines.addEventListener("click", function (event) {
      if (!event.target.classList.contains("remove-line")) { return; }
      var rows = lines.querySelectorAll("tbody tr.line");
      var row = event.target.closest("tr");
      if (rows.length > 1) { row.remove(); } else { row.querySelector("select").value = ""; }
    });
  }
})();
