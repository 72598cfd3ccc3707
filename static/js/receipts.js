// Read receipts: report the highest message of the other person seen (on screen, tab
// visible), at most once a second.
(function () {
  "use strict";

  const form = document.querySelector("form.composer");
  if (!form || !("IntersectionObserver" in window)) return;
  const READ_EVERY_MS = 1000;
  let seenUpto = 0;
  let reportedUpto = 0;
  let timer = null;

  function report() {
    timer = null;
    if (seenUpto <= reportedUpto || !form.isConnected) return;
    reportedUpto = seenUpto;
    htmx.ajax("POST", form.dataset.readUrl, {
      source: ChatIn.thread(),
      values: { upto: seenUpto },
      swap: "none",
    }).catch(() => {
      reportedUpto = 0;
    });
  }

  function noteSeen(id) {
    if (document.visibilityState !== "visible" || !(id > seenUpto)) return;
    seenUpto = id;
    if (timer === null) timer = setTimeout(report, reportedUpto === 0 ? 0 : READ_EVERY_MS);
  }

  const observer = new IntersectionObserver((items) => {
    items.forEach((item) => {
      if (item.isIntersecting) noteSeen(Number(item.target.dataset.id));
    });
  });

  ChatIn.live(() => {
    document.querySelectorAll(".thread article.theirs:not([data-watched])").forEach((article) => {
      article.dataset.watched = "1";
      observer.observe(article);
    });
  });

  // Coming back to the tab: look again at what is on screen.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    document.querySelectorAll(".thread article.theirs[data-watched]").forEach((article) => {
      observer.unobserve(article);
      observer.observe(article);
    });
  });
})();
