// ChatIn's scripts: one file per behaviour, each loaded with `defer`, so it runs once the page
// is parsed, in the order base.html lists them. Pages work without them. This file holds what
// several others share, as window.ChatIn; later files add to it.
window.ChatIn = (function () {
  "use strict";

  const BOTTOM_SLACK_PX = 80;

  return {
    thread: () => document.querySelector(".thread"),
    atBottom: (box) => box.scrollHeight - box.scrollTop - box.clientHeight < BOTTOM_SLACK_PX,
    scrollToBottom(box) {
      box.scrollTop = box.scrollHeight;
    },
    // Run `refresh` now and after every message from the socket (its swaps are done by then).
    live(refresh) {
      refresh();
      document.addEventListener("htmx:wsAfterMessage", () => refresh());
    },
  };
})();
