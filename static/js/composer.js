// The composer: Enter sends, Shift+Enter breaks the line, the box grows with its text. A message
// shows at once as a pending bubble (a copy of the page's <template id="pending-message">) and
// htmx posts it; the form's hx-sync="this:queue all" sends one at a time, in the order written.
// The stored <article> that answers replaces the bubble; a refusal or a lost connection shows
// why, with Retry (the same client_id, so the server stores the message once).
(function () {
  "use strict";

  const form = document.querySelector("form.composer");
  if (!form) return;
  const box = form.elements.body;
  const send = form.querySelector(".send");
  const MAX_HEIGHT_PX = 160;

  function newClientId() {
    if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts only
    const random = () => crypto.getRandomValues(new Uint8Array(1))[0];
    return "10000000-1000-4000-8000-100000000000"
      .replace(/[018]/g, (c) => (c ^ (random() & (15 >> (c / 4)))).toString(16));
  }

  function fitHeight() {
    box.style.height = "auto";
    box.style.height = `${Math.min(box.scrollHeight, MAX_HEIGHT_PX)}px`;
  }

  function pendingBubble(text, clientId) {
    const bubble = document.getElementById("pending-message").content.firstElementChild.cloneNode(true);
    bubble.dataset.clientId = clientId;
    bubble.querySelector(".body").textContent = text;
    return bubble;
  }

  // htmx posts from the box, so its form's fields, CSRF header and hx-sync apply; `values`
  // replaces the box's current text with the bubble's. (From the form itself htmx would check
  // `required` against the box, emptied by then.) The outcome is handled on htmx:afterRequest.
  function post(bubble) {
    htmx.ajax("POST", form.getAttribute("action"), {
      source: box,
      values: {
        body: bubble.querySelector(".body").textContent,
        client_id: bubble.dataset.clientId,
        reply_to: bubble.dataset.replyTo || "",
        tab: form.elements.tab.value,
      },
      swap: "none",
    }).catch(() => {});
  }

  // The server pushes this page no copy of what it sent (the answer holds it), so its own list
  // entry moves up here, as the server renders it for the author: "You: " and the text.
  function listMine(answer) {
    const entry = document.getElementById(`conv-${form.closest("[data-conversation]").dataset.conversation}`);
    const time = answer.querySelector("time");
    if (!entry || !time) return;
    entry.querySelector("[data-preview]").textContent = `You: ${answer.querySelector(".body").textContent.slice(0, 120)}`;
    entry.querySelector(".conv-time")?.replaceChildren(time.cloneNode(true));
    entry.querySelector(".unread")?.remove();
    entry.parentElement.prepend(entry);
    ChatIn.formatTimes(entry);
  }

  function failureText(xhr) {
    if (xhr.status === 0) return "Not sent: no connection.";
    const text = xhr.responseText.trim();
    return text && text.length < 200 && !text.startsWith("<") ? text : "Not sent.";
  }

  // `again` retries: by default the text once more, with the same client_id.
  function markFailed(bubble, reason, again = () => {
    const copy = pendingBubble(bubble.querySelector(".body").textContent, bubble.dataset.clientId);
    copy.dataset.replyTo = bubble.dataset.replyTo || "";
    bubble.replaceWith(copy);
    post(copy);
  }) {
    bubble.classList.add("failed");
    const note = document.createElement("span");
    note.className = "failure";
    note.textContent = reason;
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "small";
    retry.textContent = "Retry";
    retry.addEventListener("click", again);
    bubble.querySelector(".meta").replaceChildren(note, retry);
  }

  form.addEventListener("htmx:afterRequest", (event) => {
    const { xhr, requestConfig } = event.detail;
    if (xhr.status >= 200 && xhr.status < 300) {
      const answer = document.createElement("template");
      answer.innerHTML = xhr.responseText;
      ChatIn.place(ChatIn.thread(), answer.content);
      listMine(answer.content);
      return;
    }
    const clientId = requestConfig.parameters.client_id;
    const bubble = document.querySelector(`.pending[data-client-id="${clientId}"]`);
    if (bubble) markFailed(bubble, failureText(xhr));
  });

  Object.assign(ChatIn, { pendingBubble, markFailed, failureText, newClientId });

  // Chosen files (attach.js) go as their own messages, the text with the first.
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const files = ChatIn.takeFiles ? ChatIn.takeFiles() : [];
    if (files.length) {
      ChatIn.sendFiles(files, box.value.trim(), form.elements.client_id.value, form.elements.reply_to.value);
    } else if (box.value.trim()) {
      const bubble = pendingBubble(box.value, form.elements.client_id.value);
      bubble.dataset.replyTo = form.elements.reply_to.value;
      ChatIn.thread().append(bubble);
      post(bubble);
    } else return;
    ChatIn.cancelReply?.();
    ChatIn.scrollToBottom(ChatIn.thread());
    box.value = "";
    fitHeight();
    send.disabled = true;
    form.elements.client_id.value = newClientId();
    box.focus();
  });

  box.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (!send.disabled) form.requestSubmit();
  });

  box.addEventListener("input", () => {
    fitHeight();
    send.disabled = !box.value.trim() && !ChatIn.fileCount?.();
  });

  send.disabled = true;
})();
