// "Copy link" copies the field it names; without JavaScript the button stays hidden and the
// field's text is there to select.
document.querySelectorAll("[data-copy]").forEach((button) => {
  "use strict";
  const field = document.getElementById(button.dataset.copy);
  const said = document.getElementById(`${button.dataset.copy}-copied`);
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      said.textContent = "Link copied.";
    } catch {
      field.select();
      said.textContent = "Selected: copy it with Ctrl+C.";
    }
  });
});
