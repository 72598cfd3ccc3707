// Toasts: a new message, or a reaction to one of yours, in a conversation you are not looking
// at shows a short note that opens it. They sit in a polite live region and never take focus.
(function () {
  "use strict";

  const area = document.getElementById("toasts");
  if (!area) return;
  const SHOWN_MS = 6000;

  function reading(conversation) {
    const open = document.querySelector(".conversation[data-conversation]");
    return open && open.dataset.conversation === conversation && document.visibilityState === "visible";
  }

  function show(toast) {
    if (reading(toast.dataset.conversation)) toast.remove();
    else setTimeout(() => toast.remove(), SHOWN_MS);
  }

  // A reaction's toast comes from the server; a message's is made from its list entry.
  new MutationObserver((changes) => changes.forEach((change) => change.addedNodes.forEach((node) => {
    if (node.classList?.contains("toast")) show(node);
  }))).observe(area, { childList: true });

  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    event.detail.fragment.querySelectorAll?.(".conv-entry[data-fresh]").forEach((entry) => {
      const toast = document.createElement("a");
      toast.className = "toast";
      toast.href = `/c/${entry.dataset.conversation}`;
      toast.dataset.conversation = entry.dataset.conversation;
      const name = document.createElement("strong");
      name.textContent = entry.querySelector(".conv-name").textContent;
      const preview = entry.querySelector("[data-preview]").cloneNode(true);
      preview.querySelectorAll(".tag").forEach((tag) => tag.remove());
      toast.append(name, ` ${preview.textContent.trim().slice(0, 80)}`);
      area.append(toast);
    });
  });
})();
