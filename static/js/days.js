// Day separators ("Today", "Yesterday", a date) and grouping of consecutive messages from one
// person, both in the reader's own time zone.
(function () {
  "use strict";

  const GROUP_GAP_MS = 5 * 60 * 1000;

  function dayLabel(when) {
    const today = new Date();
    if (when.toDateString() === today.toDateString()) return "Today";
    if (when.toDateString() === new Date(Date.now() - 86400000).toDateString()) return "Yesterday";
    const year = when.getFullYear() === today.getFullYear() ? undefined : "numeric";
    return when.toLocaleDateString([], { weekday: "short", day: "numeric", month: "long", year });
  }

  function decorate() {
    const box = ChatIn.thread();
    if (!box) return;
    box.querySelectorAll(".day").forEach((el) => el.remove());
    let previous = null;
    box.querySelectorAll("article[data-id]").forEach((article) => {
      // A group's system line has no visible time, only its moment in data-at.
      const stamp = article.querySelector("time[datetime]");
      const at = stamp ? stamp.getAttribute("datetime") : article.dataset.at;
      const when = at ? new Date(at) : null;
      const sameDay = when && previous && previous.when
        && when.toDateString() === previous.when.toDateString();
      if (when && !sameDay) {
        const day = document.createElement("div");
        day.className = "day";
        day.setAttribute("role", "separator");
        day.textContent = dayLabel(when);
        article.before(day);
      }
      const side = article.classList.contains("mine") ? "mine" : article.dataset.author;
      const grouped = sameDay && previous.side === side && when - previous.when < GROUP_GAP_MS;
      article.classList.toggle("grouped", Boolean(grouped));
      previous = { side, when };
    });
  }

  ChatIn.decorate = decorate;
  ChatIn.live(decorate);
})();
