// Times in the reader's own zone (the server writes UTC), and "last seen 5 min ago" kept
// current without reloading.
(function () {
  "use strict";

  const CLOCK = { hour: "2-digit", minute: "2-digit" };
  const DAY = { day: "numeric", month: "short" };

  // In the list, an older day shows as its date; everywhere else a time shows as a clock.
  function formatTimes(root) {
    const today = new Date().toDateString();
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) return;
      el.textContent = el.closest(".conv-entry") && when.toDateString() !== today
        ? when.toLocaleDateString([], DAY)
        : when.toLocaleTimeString([], CLOCK);
      el.title = when.toLocaleString();
    });
  }
  ChatIn.formatTimes = formatTimes;

  function relativeTimes() {
    const now = Date.now();
    const yesterday = new Date(now - 86400000).toDateString();
    document.querySelectorAll("time[data-relative]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      const minutes = Math.round((now - when.getTime()) / 60000);
      const clock = when.toLocaleTimeString([], CLOCK);
      let text;
      if (minutes < 1) text = "just now";
      else if (minutes < 60) text = `${minutes} min ago`;
      else if (new Date(now).toDateString() === when.toDateString()) text = `today at ${clock}`;
      else if (yesterday === when.toDateString()) text = `yesterday at ${clock}`;
      else text = `${when.toLocaleDateString([], DAY)} at ${clock}`;
      el.textContent = text;
    });
  }

  formatTimes(document);
  document.addEventListener("htmx:load", (event) => formatTimes(event.detail.elt));
  document.addEventListener("htmx:oobAfterSwap", (event) => {
    formatTimes(event.detail.target.parentNode || document);
  });
  ChatIn.live(relativeTimes);
  setInterval(relativeTimes, 30000);
})();
