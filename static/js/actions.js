// Message actions with JavaScript: Reply fills the composer's "Replying to" bar, a quote leads
// to its original (loading older pages until it is there), Edit turns the bubble into an
// editor (Enter saves, Shift+Enter breaks the line, Escape cancels). Without it each is a page.
(function () {
  "use strict";

  const form = document.querySelector("form.composer");
  const chat = document.querySelector(".conversation[data-conversation]");
  if (!form || !chat) return;
  const box = form.elements.body;
  let acted = null; // the article whose menu was used: its button gets focus back after a swap

  const article = (el) => el.closest("article[data-id]");
  const menuButton = (bubble) => bubble?.querySelector("summary");

  let asked = 0; // replies asked for: a bar that comes after a send or cancel stays hidden

  function cancelReply() {
    asked++;
    document.getElementById("replying").hidden = true;
    form.elements.reply_to.value = "";
  }
  ChatIn.cancelReply = cancelReply;

  // The reply goes with the next send at once; the bar (author, first line) follows.
  function reply(bubble) {
    const ask = ++asked;
    form.elements.reply_to.value = bubble.dataset.id;
    const url = `/c/${chat.dataset.conversation}/m/${bubble.dataset.id}/reply`;
    htmx.ajax("GET", url, { target: "#replying", swap: "outerHTML" }).then(() => {
      if (ask !== asked) cancelReply();
      box.focus();
    });
  }

  async function reveal(id) {
    let original = document.getElementById(`message-${id}`);
    for (let older; !original && (older = document.querySelector(".thread .older"));) {
      const loaded = new Promise((done) => document.addEventListener("htmx:afterSettle", done, { once: true }));
      older.click();
      await loaded;
      original = document.getElementById(`message-${id}`);
    }
    if (!original) return;
    original.scrollIntoView({ block: "center" });
    original.classList.remove("highlight");
    void original.offsetWidth; // restart the animation
    original.classList.add("highlight");
    original.tabIndex = -1;
    original.focus({ preventScroll: true });
  }

  function closeEditor(editor) {
    const bubble = article(editor);
    editor.previousElementSibling.hidden = false;
    editor.remove();
    menuButton(bubble).focus();
  }

  function edit(bubble, url) {
    if (bubble.querySelector(".editor")) return;
    const body = bubble.querySelector(".body");
    if (!body) return location.assign(url); // a file without a caption: the edit page
    const editor = document.getElementById("editor").content.firstElementChild.cloneNode(true);
    editor.setAttribute("action", url);
    editor.setAttribute("hx-post", url);
    editor.elements.body.value = body.textContent;
    body.hidden = true;
    body.after(editor);
    htmx.process(editor);
    editor.elements.body.focus();
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a.reply, a.edit, a.quote, .cancel-reply, .editor .cancel");
    if (!link) return;
    event.preventDefault();
    const bubble = article(link);
    link.closest("details")?.removeAttribute("open");
    if (link.matches(".cancel-reply")) {
      cancelReply();
      box.focus();
    } else if (link.matches(".cancel")) closeEditor(link.closest(".editor"));
    else if (link.matches(".reply")) reply(bubble);
    else if (link.matches(".edit")) edit(bubble, link.getAttribute("href"));
    else reveal(link.dataset.quoteOf);
  });

  document.addEventListener("keydown", (event) => {
    const editor = event.target.closest?.(".editor");
    if (!editor || event.isComposing) return;
    if (event.key === "Escape") closeEditor(editor);
    else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      editor.requestSubmit();
    } else return;
  });

  // A refused edit says why under the editor.
  document.addEventListener("htmx:responseError", (event) => {
    const editor = event.detail.elt.closest?.(".editor");
    if (!editor) return;
    const note = editor.querySelector(".failure");
    note.textContent = event.detail.xhr.responseText.slice(0, 200);
    note.hidden = false;
  });

  // A reaction, save or chip press replaces its article: focus goes back to its menu button.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const bubble = article(event.detail.elt);
    acted = bubble && bubble.id;
  });
  document.addEventListener("htmx:afterSwap", () => {
    if (acted && document.activeElement === document.body) menuButton(document.getElementById(acted))?.focus();
    acted = null;
  });
})();
