// qbedi web page: the only script. Everything works without it; it adds "tick all" on the Approval page, and
// says a long action is under way (Release all) and keeps it from being sent twice.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[data-ticks]").forEach(function (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="' + all.dataset.ticks + '"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function (e) {  // (a second press while the first runs: not sent)
      if (form.dataset.sent) {
        e.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      form.querySelector("button").textContent = form.dataset.busy;
    });
  });
});
