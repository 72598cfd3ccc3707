// A filter over a list of choices (contacts for a group): hides the ones not matching.
(function () {
  "use strict";
  document.querySelectorAll("input[data-filter]").forEach((box) => {
    box.hidden = false;
    box.addEventListener("input", () => {
      const wanted = box.value.trim().toLowerCase();
      document.querySelectorAll(box.dataset.filter + " label").forEach((label) => {
        label.hidden = !label.textContent.toLowerCase().includes(wanted);
      });
    });
  });
})();
