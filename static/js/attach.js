// Files: "Attach files", pasting or dropping files onto the conversation put them in a strip
// above the box (a thumbnail or name and size, each removable, "Clear all"). On send each file
// is its own pending bubble with its upload's progress; they go one after another, so they are
// stored in the order chosen, the text with the first. A refusal says why, with Retry.
(function () {
  "use strict";

  const form = document.querySelector("form.composer");
  if (!form) return;
  const input = form.elements.files;
  const strip = form.querySelector(".attach-strip");
  const list = strip.querySelector("ul");
  const zone = form.closest(".conversation");
  let chosen = [];
  let queue = Promise.resolve();

  const size = (n) => (n < 1e3 ? `${n} bytes` : n < 1e6 ? `${Math.round(n / 1e3)} KB`
    : `${(n / 1e6).toFixed(1)} MB`);

  function el(tag, className, text) {
    const made = document.createElement(tag);
    made.className = className;
    if (text) made.textContent = text;
    return made;
  }

  function button(text, label, click) {
    const made = el("button", "small ghost", text);
    made.type = "button";
    made.setAttribute("aria-label", label);
    made.addEventListener("click", click);
    return made;
  }

  function render() {
    list.querySelectorAll("img").forEach((img) => URL.revokeObjectURL(img.src));
    list.replaceChildren(...chosen.map((file, n) => {
      const item = el("li", "chosen");
      if (/^image\/(jpeg|png|gif|webp)$/.test(file.type)) {
        const thumb = el("img", "thumb");
        thumb.src = URL.createObjectURL(file);
        thumb.alt = file.name;
        item.append(thumb);
      } else item.append(el("span", "chosen-name", `${file.name} · ${size(file.size)}`));
      item.append(button("×", `Remove ${file.name}`, () => { chosen.splice(n, 1); render(); }));
      return item;
    }));
    strip.hidden = !chosen.length;
    form.querySelector(".send").disabled = !chosen.length && !form.elements.body.value.trim();
  }

  function add(files) {
    chosen.push(...files);
    render();
  }

  function upload(file, caption, clientId, replyTo) {
    const bubble = ChatIn.pendingBubble(caption, clientId);
    const bar = el("progress", "upload");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Uploading ${file.name}`);
    bubble.prepend(el("p", "pending-file", `📎 ${file.name} · ${size(file.size)}`), bar);
    ChatIn.thread().append(bubble);
    ChatIn.scrollToBottom(ChatIn.thread());
    queue = queue.then(() => new Promise((done) => {
      const xhr = new XMLHttpRequest();
      const data = new FormData();
      for (const [name, value] of [["csrf_token", form.elements.csrf_token.value],
        ["client_id", clientId], ["body", caption], ["reply_to", replyTo], ["files", file]]) data.append(name, value);
      xhr.open("POST", form.action);
      xhr.setRequestHeader("HX-Request", "true");
      xhr.upload.onprogress = (event) => { bar.value = (100 * event.loaded) / (event.total || 1); };
      xhr.onloadend = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          const answer = document.createElement("template");
          answer.innerHTML = xhr.responseText;
          ChatIn.place(ChatIn.thread(), answer.content);
        } else {
          bar.remove();
          ChatIn.markFailed(bubble, ChatIn.failureText(xhr), () => {
            bubble.remove();
            upload(file, caption, clientId, replyTo);
          });
        }
        done();
      };
      xhr.send(data);
    }));
  }

  ChatIn.fileCount = () => chosen.length;
  ChatIn.takeFiles = () => {
    const files = chosen;
    chosen = [];
    render();
    return files;
  };
  ChatIn.sendFiles = (files, caption, clientId, replyTo) => files.forEach((file, n) =>
    upload(file, n ? "" : caption, n ? ChatIn.newClientId() : clientId, n ? "" : replyTo));

  strip.querySelector(".clear-files").addEventListener("click", () => {
    chosen = [];
    render();
  });
  input.addEventListener("change", () => {
    add(input.files);
    input.value = "";
  });
  document.addEventListener("paste", (event) => {
    const files = event.clipboardData?.files;
    if (files?.length) {
      event.preventDefault();
      add(files);
    }
  });
  zone.addEventListener("dragover", (event) => {
    if (!event.dataTransfer?.types.includes("Files")) return;
    event.preventDefault();
    zone.classList.add("dropping");
  });
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("dropping");
  });
  zone.addEventListener("drop", (event) => {
    zone.classList.remove("dropping");
    if (!event.dataTransfer?.files.length) return;
    event.preventDefault();
    add(event.dataTransfer.files);
  });
})();
