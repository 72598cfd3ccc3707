// The thread: stored messages go in once each, in id order, whether pushed or the answer to a
// send; loading older messages keeps the reader's place; a "New messages ↓" pill shows when
// something arrives while the reader is scrolled up.
(function () {
  "use strict";

  const { thread, atBottom, scrollToBottom } = ChatIn;

  function pill() {
    return document.getElementById("jump-down");
  }

  // Each stored message replaces its twin or its pending bubble, else goes before any later one.
  ChatIn.place = function (box, source) {
    const follow = atBottom(box);
    let arrived = false;
    source.querySelectorAll("article[data-id]").forEach((incoming) => {
      const article = incoming.cloneNode(true);
      const existing = document.getElementById(article.id);
      if (existing) {
        const focused = existing.contains(document.activeElement);
        existing.replaceWith(article);
        if (focused) article.querySelector("summary")?.focus(); // focus stays with the message
      } else {
        box.querySelector(`.pending[data-client-id="${article.dataset.clientId}"]`)?.remove();
        const id = Number(article.dataset.id);
        const later = Array.from(box.querySelectorAll("article[data-id], .pending"))
          .find((el) => el.classList.contains("pending") || Number(el.dataset.id) > id);
        box.insertBefore(article, later || null);
        arrived = true;
      }
      ChatIn.formatTimes(article);
      htmx.process(article); // its reaction forms post with htmx
    });
    ChatIn.decorate();
    if (follow) scrollToBottom(box);
    else if (arrived && pill()) pill().hidden = false;
  };

  // A changed message arrives bare and swaps its twin by id (htmx finds no twin in a tab
  // that hasn't loaded it, and drops it): placed like any message, so times are formatted.
  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    const { target, fragment } = event.detail;
    const box = target.classList.contains("thread") ? target
      : target.matches("article[data-id]") && target.closest(".thread");
    if (box) {
      ChatIn.place(box, fragment);
      event.detail.shouldSwap = false;
    }
  });

  // Older messages go in above: keep the distance from the bottom.
  let fromBottom = null;
  document.addEventListener("htmx:beforeSwap", (event) => {
    const box = thread();
    if (box && event.detail.target.classList.contains("older")) {
      fromBottom = box.scrollHeight - box.scrollTop;
    }
  });
  document.addEventListener("htmx:afterSettle", () => {
    ChatIn.decorate();
    const box = thread();
    if (box && fromBottom !== null) {
      box.scrollTop = box.scrollHeight - fromBottom;
      fromBottom = null;
    }
  });

  document.addEventListener("click", (event) => {
    if (event.target.id !== "jump-down") return;
    thread().scrollTo({ top: thread().scrollHeight, behavior: "smooth" });
    event.target.hidden = true;
  });
  document.addEventListener("scroll", () => {
    const box = thread();
    if (box && pill() && atBottom(box)) pill().hidden = true;
  }, true);

  // On opening: the "New messages" divider in view, else the latest message.
  const divider = document.getElementById("new-messages");
  if (divider) divider.scrollIntoView({ block: "center" });
  else if (thread()) scrollToBottom(thread());
})();
