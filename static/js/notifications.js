// News from a conversation you are not looking at (a message, or a reaction to yours): a short
// toast that opens it, in a polite live region that never takes focus, and a browser
// notification too once the person asked for them.
(function () {
  "use strict";

  const area = document.getElementById("toasts");
  const canNotify = "Notification" in window;
  const toggle = document.getElementById("enable-notifications");
  if (toggle && canNotify) {
    toggle.hidden = Notification.permission !== "default";
    toggle.addEventListener("click", () => {
      Notification.requestPermission().then(() => {
        toggle.hidden = Notification.permission !== "default";
      });
    });
  }

  function reading(conversation) {
    const open = document.querySelector(".conversation[data-conversation]");
    return open && open.dataset.conversation === conversation && document.visibilityState === "visible";
  }

  // toast: <a class="toast" data-conversation><strong>sender</strong> text</a>
  function tell(toast) {
    const conversation = toast.dataset.conversation;
    if (reading(conversation)) return;
    if (canNotify && Notification.permission === "granted") {
      const sender = toast.firstElementChild.textContent;
      const note = new Notification(sender, {
        body: toast.textContent.slice(sender.length).trim(),
        tag: `conversation-${conversation}`,
      });
      note.onclick = () => {
        window.focus();
        window.location.assign(`/c/${conversation}`);
      };
    }
    if (!area) return;
    area.append(toast);
    setTimeout(() => toast.remove(), 6000);
  }

  function fromEntry(entry) {
    const toast = document.createElement("a");
    toast.className = "toast";
    toast.href = `/c/${entry.dataset.conversation}`;
    toast.dataset.conversation = entry.dataset.conversation;
    const name = document.createElement("strong");
    name.textContent = entry.querySelector(".conv-name").textContent;
    const preview = entry.querySelector("[data-preview]").cloneNode(true);
    preview.querySelectorAll(".tag").forEach((tag) => tag.remove());
    toast.append(name, ` ${preview.textContent.trim().slice(0, 80)}`);
    return toast;
  }

  // The server marks an entry that a new message from the other side moved as data-fresh,
  // and sends a reaction's toast ready made (into #toasts: taken here instead).
  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    const { fragment, target } = event.detail;
    fragment.querySelectorAll?.(".conv-entry[data-fresh]").forEach((entry) => tell(fromEntry(entry)));
    if (target === area) {
      fragment.querySelectorAll(".toast").forEach((toast) => tell(toast.cloneNode(true)));
      event.detail.shouldSwap = false;
    }
  });
})();
