// Browser notifications for the other person's new messages, only after the person asked for
// them, and never for the conversation they are looking at.
(function () {
  "use strict";

  if (!("Notification" in window)) return;

  const toggle = document.getElementById("enable-notifications");
  if (toggle) {
    toggle.hidden = Notification.permission !== "default";
    toggle.addEventListener("click", () => {
      Notification.requestPermission().then(() => {
        toggle.hidden = Notification.permission !== "default";
      });
    });
  }

  function notify(entry) {
    if (Notification.permission !== "granted") return;
    const open = document.querySelector(".conversation[data-conversation]");
    const reading = open && open.dataset.conversation === entry.dataset.conversation;
    if (reading && document.visibilityState === "visible") return;
    const name = entry.querySelector(".conv-name");
    const preview = entry.querySelector("[data-preview]")?.cloneNode(true);
    preview?.querySelectorAll(".tag").forEach((tag) => tag.remove());
    const note = new Notification(name ? name.textContent : "ChatIn", {
      body: preview ? preview.textContent.trim() : "",
      tag: `conversation-${entry.dataset.conversation}`,
    });
    note.onclick = () => {
      window.focus();
      window.location.assign(`/c/${entry.dataset.conversation}`);
    };
  }

  // The server marks an entry that a new message from the other side moved as data-fresh.
  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    event.detail.fragment.querySelectorAll?.(".conv-entry[data-fresh]").forEach(notify);
  });
})();
