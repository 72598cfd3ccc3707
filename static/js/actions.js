// Message actions with JavaScript (without it, each is a page): Reply fills the composer's bar,
// a quote leads to its original, Edit works in the bubble (Enter saves, Escape cancels).
(function () {
  "use strict";

  const form = document.querySelector("form.composer");
  const chat = document.querySelector(".conversation[data-conversation]");
  if (!form || !chat) return;
  const box = form.elements.body;
  const article = (el) => el.closest("article[data-id]");
  const menuButton = (bubble) => bubble?.querySelector("summary");
  let acted = null; // the article acted on: its menu button gets focus back after a swap
  let asked = 0; // a bar that comes after a send or cancel stays hidden

  function cancelReply() {
    asked++;
    document.getElementById("replying").hidden = true;
    form.elements.reply_to.value = "";
  }
  ChatIn.cancelReply = cancelReply;

  // The next send carries the reply at once; the bar (author, first line) follows.
  function reply(bubble) {
    const ask = ++asked;
    form.elements.reply_to.value = bubble.dataset.id;
    htmx.ajax("GET", `/c/${chat.dataset.conversation}/m/${bubble.dataset.id}/reply`, {
      target: "#replying", swap: "outerHTML",
    }).then(() => {
      if (ask !== asked) cancelReply();
      box.focus();
    });
  }

  // Older pages load until the original is there; then it is shown, highlighted, focused.
  async function reveal(id) {
    let original, older;
    while (!(original = document.getElementById(`message-${id}`)) && (older = document.querySelector(".thread .older"))) {
      const loaded = new Promise((done) => document.addEventListener("htmx:afterSettle", done, { once: true }));
      older.click();
      await loaded;
    }
    if (!original) return;
    original.scrollIntoView({ block: "center" });
    original.classList.remove("highlight");
    void original.offsetWidth;
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
    const body = bubble.querySelector(".body");
    if (!body) return location.assign(url); // a file without a caption
    if (body.hidden) return;
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

  // A message that came without its menu (pushed, or loaded by htmx) gets the page's copy when it opens.
  document.addEventListener("toggle", (event) => {
    const menu = event.target;
    if (!menu.open || !menu.matches(".message-actions") || menu.querySelector(".menu")) return;
    const bubble = article(menu);
    menu.insertAdjacentHTML("beforeend", document.getElementById("message-menu").innerHTML.replaceAll("{m}", bubble.dataset.id));
    if (!bubble.matches(".mine")) for (const own of menu.querySelectorAll(".edit, .delete")) own.remove();
    const chosen = menu.querySelector(`.quick [value="${bubble.querySelector(".chip.on")?.value}"]`);
    chosen?.setAttribute("name", "unreact");
    chosen?.setAttribute("aria-pressed", "true");
    htmx.process(menu);
  }, true);

  document.addEventListener("keydown", (event) => {
    const menu = event.target.closest?.("details[open]");
    if (menu && event.key === "Escape") { // closes the menu, back on its button
      menu.removeAttribute("open");
      menuButton(menu).focus();
    }
    const editor = event.target.closest?.(".editor");
    if (!editor || event.isComposing) return;
    if (event.key === "Escape") closeEditor(editor);
    else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      editor.requestSubmit();
    }
  });

  document.addEventListener("htmx:responseError", (event) => {
    const note = event.detail.elt.closest?.(".editor")?.querySelector(".failure");
    if (!note) return;
    note.textContent = event.detail.xhr.responseText.slice(0, 200);
    note.hidden = false;
  });

  document.addEventListener("htmx:beforeRequest", (event) => {
    acted = article(event.detail.elt)?.id;
  });
  document.addEventListener("htmx:afterSwap", () => {
    if (acted && document.activeElement === document.body) menuButton(document.getElementById(acted))?.focus();
    acted = null;
  });
})();
