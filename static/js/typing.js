// Typing: tell the other side at most every 3 s while the box has text; the other person's
// "… is typing" fades 5 s after their last notice.
(function () {
  "use strict";

  const TYPING_EVERY_MS = 3000;
  const TYPING_SHOWN_MS = 5000;
  let sentAt = 0;

  document.addEventListener("input", (event) => {
    const box = event.target;
    const form = box instanceof HTMLTextAreaElement ? box.closest("form.composer") : null;
    if (!form || !box.value.trim() || Date.now() - sentAt < TYPING_EVERY_MS) return;
    sentAt = Date.now();
    htmx.ajax("POST", form.dataset.typingUrl, { swap: "none" }).catch(() => {});
  });

  const timers = new Map();
  ChatIn.live(() => {
    document.querySelectorAll("[data-typing]").forEach((el) => {
      clearTimeout(timers.get(el.id));
      timers.set(el.id, setTimeout(() => {
        const current = document.getElementById(el.id);
        if (current) {
          current.textContent = "";
          current.removeAttribute("data-typing");
        }
      }, TYPING_SHOWN_MS));
    });
  });
})();
