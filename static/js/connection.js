// "Reconnecting…" while the live connection is down (the ws extension reconnects by itself).
// A 4xxx close is final: 4401 (session ended) goes to the log-in page, 4429 (too many tabs
// open) and 4400 (a hello the server refused) say so and offer a reload.
(function () {
  "use strict";

  const FINAL = {
    4429: "ChatIn is open in too many tabs, so this one stopped updating. Reload to use it here.",
    4400: "This tab stopped updating. Reload the page.",
  };

  function showBanner(text) {
    const banner = document.getElementById("connection");
    if (!banner) return;
    if (text) banner.textContent = text;
    banner.hidden = !text;
  }

  document.addEventListener("htmx:wsClose", (event) => {
    const code = event.detail.event?.code;
    if (code === 4401) window.location.assign("/login");
    else showBanner(FINAL[code] || "Reconnecting…");
  });
  document.addEventListener("htmx:wsOpen", () => showBanner(""));
})();
