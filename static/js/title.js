// The tab title shows the unread total of the whole list. While a search shows only some
// entries, the others count as they were last seen.
(function () {
  "use strict";

  const baseTitle = document.title;
  const unread = new Map();

  function updateTitle() {
    if (!document.getElementById("search")?.value.trim()) unread.clear();
    document.querySelectorAll("#conversation-list .conv-entry").forEach((entry) => {
      const badge = entry.querySelector(".unread[aria-label]");
      unread.set(entry.id, badge ? parseInt(badge.getAttribute("aria-label"), 10) || 0 : 0);
    });
    let total = 0;
    unread.forEach((count) => {
      total += count;
    });
    document.title = total ? `(${total}) ${baseTitle}` : baseTitle;
  }

  ChatIn.live(updateTitle);
})();
