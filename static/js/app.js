// ChatIn's browser helpers. Pages work without them; they add Enter-to-send, pending
// bubbles, exactly-once ordered message insertion, scrolling and the reconnect banner.
(function () {
  "use strict";

  const BOTTOM_SLACK_PX = 80;

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
    } catch (_) {
      return "";
    }
  }

  function thread() {
    return document.querySelector(".thread");
  }

  function atBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < BOTTOM_SLACK_PX;
  }

  function scrollToBottom(box) {
    box.scrollTop = box.scrollHeight;
  }

  function formatTimes(root) {
    const today = new Date().toDateString();
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) return;
      const sameDay = when.toDateString() === today;
      const inList = el.closest(".conv-entry");
      el.textContent = inList && !sameDay
        ? when.toLocaleDateString([], { day: "numeric", month: "short" })
        : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      el.title = when.toLocaleString();
    });
  }

  // Put stored messages into the thread: each once, in id order, replacing its pending bubble.
  function placeMessages(box, source) {
    const follow = atBottom(box);
    let arrived = false;
    source.querySelectorAll("article[data-id]").forEach((incoming) => {
      const article = incoming.cloneNode(true);
      const existing = document.getElementById(article.id);
      if (existing) {
        existing.replaceWith(article);
      } else {
        const pending = box.querySelector(`.pending[data-client-id="${article.dataset.clientId}"]`);
        if (pending) pending.remove();
        const id = Number(article.dataset.id);
        const later = Array.from(box.querySelectorAll("article[data-id], .pending"))
          .find((el) => el.classList.contains("pending") || Number(el.dataset.id) > id);
        box.insertBefore(article, later || null);
        arrived = true;
      }
      formatTimes(article);
    });
    decorateThread();
    if (follow) scrollToBottom(box);
    else if (arrived) showPill();
  }

  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    const { target, fragment } = event.detail;
    if (target.classList.contains("thread")) {
      placeMessages(target, fragment);
      event.detail.shouldSwap = false;
    } else if (target.id === "conversation-list") {
      fragment.querySelectorAll(".conv-entry[id]").forEach((entry) => {
        const old = document.getElementById(entry.id);
        if (old) old.remove();
      });
      target.querySelector(".list-empty")?.remove();
    }
  });

  // The open conversation's entry is highlighted; its request buttons live in the banner.
  function markOpenConversation() {
    const open = document.querySelector(".conversation[data-conversation]");
    const id = open ? open.dataset.conversation : null;
    document.querySelectorAll(".conv-entry").forEach((entry) => {
      entry.classList.toggle("active", entry.dataset.conversation === id);
    });
  }

  document.addEventListener("htmx:oobAfterSwap", (event) => {
    formatTimes(event.detail.target.parentNode || document);
    markOpenConversation();
  });
  document.addEventListener("htmx:load", (event) => formatTimes(event.detail.elt));

  // Loading older messages above keeps the reader's place.
  let fromBottom = null;
  document.addEventListener("htmx:beforeSwap", (event) => {
    const box = thread();
    if (box && event.detail.target.classList.contains("older")) {
      fromBottom = box.scrollHeight - box.scrollTop;
    }
  });
  document.addEventListener("htmx:afterSettle", () => {
    decorateThread();
    const box = thread();
    if (box && fromBottom !== null) {
      box.scrollTop = box.scrollHeight - fromBottom;
      fromBottom = null;
    }
  });

  // The composer: Enter sends, Shift+Enter breaks the line, the box grows with its text.
  function composer() {
    return document.querySelector("form.composer");
  }

  document.addEventListener("keydown", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLTextAreaElement) || !box.closest("form.composer")) return;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (box.value.trim()) box.form.requestSubmit();
  });

  function fitHeight(box) {
    box.style.height = "auto";
    box.style.height = `${Math.min(box.scrollHeight, 160)}px`;
  }

  document.addEventListener("input", (event) => {
    const box = event.target;
    if (box instanceof HTMLTextAreaElement && box.closest("form.composer")) {
      fitHeight(box);
      box.form.querySelector(".send").disabled = !box.value.trim();
    }
  });

  function pendingBubble(text, clientId) {
    const article = document.createElement("article");
    article.className = "bubble mine pending";
    article.dataset.clientId = clientId;
    const body = document.createElement("p");
    body.className = "body";
    body.textContent = text;
    const meta = document.createElement("footer");
    meta.className = "meta";
    const status = document.createElement("span");
    status.className = "status";
    status.setAttribute("role", "img");
    status.setAttribute("aria-label", "Sending");
    status.textContent = "◷";
    meta.append(status);
    article.append(body, meta);
    return article;
  }

  function markFailed(bubble, reason, retry) {
    bubble.classList.add("failed");
    bubble.querySelector(".meta").replaceChildren();
    const note = document.createElement("span");
    note.className = "failure";
    note.textContent = reason;
    const again = document.createElement("button");
    again.type = "button";
    again.className = "small";
    again.textContent = "Retry";
    again.addEventListener("click", retry);
    bubble.querySelector(".meta").append(note, again);
  }

  const outgoing = new Map();

  function failureText(xhr) {
    if (!xhr || xhr.status === 0) return "Not sent: no connection.";
    const text = (xhr.responseText || "").trim();
    return text && text.length < 200 && !text.startsWith("<") ? text : "Not sent.";
  }

  function settle(form, clientId, xhr) {
    const bubble = document.querySelector(`.pending[data-client-id="${clientId}"]`);
    if (xhr && xhr.status >= 200 && xhr.status < 300) {
      outgoing.delete(clientId);
      const holder = document.createElement("template");
      holder.innerHTML = xhr.responseText;
      const box = thread();
      if (box) placeMessages(box, holder.content);
      return;
    }
    if (bubble) markFailed(bubble, failureText(xhr), () => resend(form, clientId));
  }

  // Sends leave one at a time, in the order they were written; each shows at once.
  const sendQueue = [];
  let sending = false;

  function enqueue(form, clientId) {
    sendQueue.push({ form, clientId });
    pump();
  }

  function pump() {
    if (sending || !sendQueue.length) return;
    const { form, clientId } = sendQueue.shift();
    sending = true;
    const done = (xhr) => {
      settle(form, clientId, xhr);
      sending = false;
      pump();
    };
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action"));
    xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
    xhr.setRequestHeader("HX-Request", "true");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.onload = () => done(xhr);
    xhr.onerror = () => done(null);
    xhr.send(new URLSearchParams({ body: outgoing.get(clientId), client_id: clientId }).toString());
  }

  function resend(form, clientId) {
    const body = outgoing.get(clientId);
    const bubble = document.querySelector(`.pending[data-client-id="${clientId}"]`);
    if (body === undefined || !bubble) return;
    bubble.replaceWith(pendingBubble(body, clientId));
    enqueue(form, clientId);
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("composer")) return;
    event.preventDefault();
    const textarea = form.querySelector("textarea");
    const text = textarea.value;
    if (!text.trim()) return;
    const idField = form.querySelector("input[name=client_id]");
    const clientId = idField.value;
    outgoing.set(clientId, text);
    const box = thread();
    if (box) {
      box.append(pendingBubble(text, clientId));
      scrollToBottom(box);
    }
    textarea.value = "";
    fitHeight(textarea);
    form.querySelector(".send").disabled = true;
    idField.value = newClientId();
    textarea.focus();
    enqueue(form, clientId);
  });

  // Show when the live connection is down; the ws extension reconnects by itself.
  document.addEventListener("htmx:wsClose", (event) => {
    const code = event.detail.event && event.detail.event.code;
    if (code === 4401) {
      window.location.assign("/login");
      return;
    }
    const banner = document.getElementById("connection");
    if (banner) banner.hidden = false;
  });
  document.addEventListener("htmx:wsOpen", () => {
    const banner = document.getElementById("connection");
    if (banner) banner.hidden = true;
  });

  // Read receipts: report the highest message seen (on screen, tab visible), at most 1/s.
  const READ_EVERY_MS = 1000;
  let seenUpto = 0;
  let reportedUpto = 0;
  let readTimer = null;
  const seenObserver = "IntersectionObserver" in window
    ? new IntersectionObserver((items) => {
      items.forEach((item) => {
        if (item.isIntersecting) noteSeen(Number(item.target.dataset.id));
      });
    })
    : null;

  function post(url, values) {
    return fetch(url, {
      method: "POST",
      headers: { "X-CSRF-Token": csrfToken(), "HX-Request": "true" },
      body: new URLSearchParams(values),
      credentials: "same-origin",
    });
  }

  function noteSeen(id) {
    if (document.visibilityState !== "visible" || !(id > seenUpto)) return;
    seenUpto = id;
    if (readTimer === null) {
      readTimer = setTimeout(() => {
        readTimer = null;
        const form = composer();
        if (form && seenUpto > reportedUpto) {
          reportedUpto = seenUpto;
          post(form.dataset.readUrl, { upto: String(seenUpto) }).catch(() => { reportedUpto = 0; });
        }
      }, reportedUpto === 0 ? 0 : READ_EVERY_MS);
    }
  }

  function watchTheirMessages() {
    if (!seenObserver) return;
    document.querySelectorAll(".thread article.theirs:not([data-watched])").forEach((article) => {
      article.dataset.watched = "1";
      seenObserver.observe(article);
    });
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible" || !seenObserver) return;
    document.querySelectorAll(".thread article.theirs[data-watched]").forEach((article) => {
      seenObserver.unobserve(article);
      seenObserver.observe(article);
    });
  });

  // Typing: tell the other side at most every 3 s while the box has text.
  const TYPING_EVERY_MS = 3000;
  let typingSentAt = 0;
  document.addEventListener("input", (event) => {
    const box = event.target;
    const form = box instanceof HTMLTextAreaElement ? box.closest("form.composer") : null;
    if (!form || !box.value.trim() || Date.now() - typingSentAt < TYPING_EVERY_MS) return;
    typingSentAt = Date.now();
    post(form.dataset.typingUrl, {}).catch(() => {});
  });

  // "… is typing" fades 5 s after the last notice.
  const TYPING_SHOWN_MS = 5000;
  const typingTimers = new Map();
  function expireTyping() {
    document.querySelectorAll("[data-typing]").forEach((el) => {
      clearTimeout(typingTimers.get(el.id));
      typingTimers.set(el.id, setTimeout(() => {
        const current = document.getElementById(el.id);
        if (current) {
          current.textContent = "";
          current.removeAttribute("data-typing");
        }
      }, TYPING_SHOWN_MS));
    });
  }

  // The tab title shows the unread total of the whole list.
  const baseTitle = document.title;
  function updateTitle() {
    let total = 0;
    document.querySelectorAll("#conversation-list .unread[aria-label]").forEach((badge) => {
      total += parseInt(badge.getAttribute("aria-label"), 10) || 0;
    });
    document.title = total ? `(${total}) ${baseTitle}` : baseTitle;
  }

  // "last seen 5 min ago", kept current without reloading.
  function relativeTimes() {
    const now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      const minutes = Math.round((now - when.getTime()) / 60000);
      const clock = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      const yesterday = new Date(now - 86400000).toDateString() === when.toDateString();
      let text;
      if (minutes < 1) text = "just now";
      else if (minutes < 60) text = `${minutes} min ago`;
      else if (new Date(now).toDateString() === when.toDateString()) text = `today at ${clock}`;
      else if (yesterday) text = `yesterday at ${clock}`;
      else text = `${when.toLocaleDateString([], { day: "numeric", month: "short" })} at ${clock}`;
      el.textContent = text;
    });
  }
  setInterval(relativeTimes, 30000);

  // Browser notifications, only after the person asked for them.
  function setUpNotifications() {
    const toggle = document.getElementById("enable-notifications");
    if (!toggle || !("Notification" in window)) return;
    toggle.hidden = Notification.permission !== "default";
    toggle.addEventListener("click", () => {
      Notification.requestPermission().then(() => {
        toggle.hidden = Notification.permission !== "default";
      });
    });
  }

  function maybeNotify(entry) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const open = document.querySelector(".conversation[data-conversation]");
    const reading = open && open.dataset.conversation === entry.dataset.conversation;
    if (reading && document.visibilityState === "visible") return;
    const name = entry.querySelector(".conv-name");
    const preview = entry.querySelector("[data-preview]")?.cloneNode(true);
    preview?.querySelectorAll(".tag").forEach((tag) => tag.remove());
    const note = new Notification(name ? name.textContent : "ChatIn", {
      body: preview ? preview.textContent.trim() : "",
      tag: `conversation-${entry.dataset.conversation}`,
    });
    note.onclick = () => {
      window.focus();
      window.location.assign(`/c/${entry.dataset.conversation}`);
    };
  }

  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    event.detail.fragment.querySelectorAll?.(".conv-entry[data-fresh]").forEach(maybeNotify);
  });

  // The list filter: as you type, entries whose name or preview doesn't match hide.
  function filterList() {
    const box = document.getElementById("search");
    const needle = box ? box.value.trim().toLocaleLowerCase() : "";
    document.querySelectorAll("#conversation-list .conv-entry").forEach((entry) => {
      entry.hidden = Boolean(needle) && !entry.textContent.toLocaleLowerCase().includes(needle);
    });
  }
  document.addEventListener("input", (event) => {
    if (event.target.id === "search") filterList();
  });
  document.addEventListener("submit", (event) => {
    if (event.target.matches("form.search")) {
      event.preventDefault();
      filterList();
    }
  });

  // Day separators ("Today", "Yesterday", a date) and grouping of consecutive messages
  // from one person, both in the reader's own time zone.
  const GROUP_GAP_MS = 5 * 60 * 1000;
  function dayLabel(when) {
    const today = new Date();
    const yesterday = new Date(Date.now() - 86400000);
    if (when.toDateString() === today.toDateString()) return "Today";
    if (when.toDateString() === yesterday.toDateString()) return "Yesterday";
    const sameYear = when.getFullYear() === today.getFullYear();
    return when.toLocaleDateString([], { weekday: "short", day: "numeric", month: "long", year: sameYear ? undefined : "numeric" });
  }

  function decorateThread() {
    const box = thread();
    if (!box) return;
    box.querySelectorAll(".day").forEach((el) => el.remove());
    let previous = null;
    box.querySelectorAll("article[data-id]").forEach((article) => {
      const stamp = article.querySelector("time[datetime]");
      const when = stamp ? new Date(stamp.getAttribute("datetime")) : null;
      const prevWhen = previous && previous.when;
      if (when && (!prevWhen || when.toDateString() !== prevWhen.toDateString())) {
        const day = document.createElement("div");
        day.className = "day";
        day.setAttribute("role", "separator");
        day.textContent = dayLabel(when);
        article.before(day);
      }
      const side = article.classList.contains("mine") ? "mine" : "theirs";
      const grouped = previous && previous.side === side && when && prevWhen
        && when - prevWhen < GROUP_GAP_MS && when.toDateString() === prevWhen.toDateString();
      article.classList.toggle("grouped", Boolean(grouped));
      previous = { side, when };
    });
  }

  // A "New messages ↓" pill when something arrives while the reader is scrolled up.
  function updatePill() {
    const box = thread();
    const pill = document.getElementById("jump-down");
    if (!box || !pill) return;
    if (atBottom(box)) pill.hidden = true;
  }
  function showPill() {
    const pill = document.getElementById("jump-down");
    if (pill) pill.hidden = false;
  }
  document.addEventListener("click", (event) => {
    if (event.target.id === "jump-down") {
      const box = thread();
      if (box) box.scrollTo({ top: box.scrollHeight, behavior: "smooth" });
      event.target.hidden = true;
    }
  });
  document.addEventListener("scroll", updatePill, true);

  function refreshLiveBits() {
    decorateThread();
    filterList();
    watchTheirMessages();
    expireTyping();
    updateTitle();
    relativeTimes();
    markOpenConversation();
  }
  document.addEventListener("htmx:wsAfterMessage", refreshLiveBits);

  document.addEventListener("DOMContentLoaded", () => {
    formatTimes(document);
    refreshLiveBits();
    setUpNotifications();
    const divider = document.getElementById("new-messages");
    if (divider) divider.scrollIntoView({ block: "center" });
    const box = thread();
    if (box && !divider) scrollToBottom(box);
    const form = composer();
    if (form) form.querySelector(".send").disabled = true;
  });
})();
