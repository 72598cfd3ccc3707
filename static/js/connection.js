// "Reconnecting…" while the live connection is down (the ws extension reconnects by itself);
// a socket closed with 4401 means the session ended: go to the log-in page.
(function () {
  "use strict";

  function showBanner(shown) {
    const banner = document.getElementById("connection");
    if (banner) banner.hidden = !shown;
  }

  document.addEventListener("htmx:wsClose", (event) => {
    if (event.detail.event?.code === 4401) window.location.assign("/login");
    else showBanner(true);
  });
  document.addEventListener("htmx:wsOpen", () => showBanner(false));
})();
