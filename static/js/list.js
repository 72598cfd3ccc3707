// The conversation list: a pushed entry replaces its old copy at the top, the open
// conversation is highlighted, and the search box's matches (the server's ?q=, fetched by
// htmx as you type) are asked for again after a push changed the list.
(function () {
  "use strict";

  function markOpen() {
    const open = document.querySelector(".conversation[data-conversation]");
    const id = open ? open.dataset.conversation : null;
    document.querySelectorAll(".conv-entry").forEach((entry) => {
      entry.classList.toggle("active", entry.dataset.conversation === id);
    });
  }

  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    const { target, fragment } = event.detail;
    if (target.id !== "conversation-list") return;
    fragment.querySelectorAll(".conv-entry[id]").forEach((entry) => {
      document.getElementById(entry.id)?.remove();
    });
    target.querySelector(".list-empty")?.remove();
    const search = document.querySelector("form.search");
    if (search && search.elements.q.value.trim()) htmx.trigger(search, "submit");
  });

  markOpen();
  document.addEventListener("htmx:load", markOpen);
})();
