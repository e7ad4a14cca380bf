// qbedi web page: the only script. Everything works without it; it adds "tick all" on the Approval page.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[data-ticks]").forEach(function (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="' + all.dataset.ticks + '"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });
});
