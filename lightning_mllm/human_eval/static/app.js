// The rating page's behaviour: invite token, one item at a time, choice + comment, keys, language.
// The server decides which item comes next (from the judgments file), so a reload resumes there.
// The invite token comes from the link's fragment (#invite=...), which browsers never send to the
// server; the page sends it in an Authorization header and keeps it nowhere else.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const KEYS = { "1": "A", a: "A", "2": "B", b: "B", "3": "tie", t: "tie", "4": "both_bad", x: "both_bad" };
  const token = new URLSearchParams(window.location.hash.slice(1)).get("invite") || "";
  let lang = localStorage.getItem("human-eval-lang") === "eu" ? "eu" : "en";
  let current = null;  // the item on screen
  let choice = null;
  let busy = false;
  let imageUrl = null;  // object URL of the image on screen, released when the next one comes

  const t = (key) => window.STRINGS[lang][key];

  class Refused extends Error {}

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("item-image").alt = t("image_alt");
  }

  function show(section) {
    ["no-access", "rating", "done"].forEach((id) => { $(id).hidden = id !== section; });
  }

  function noAccess(reason) {
    $("invite-needed").hidden = reason !== "needed";
    $("invite-refused").hidden = reason !== "refused";
    $("rater-box").hidden = true;
    show("no-access");
  }

  function say(key, detail) {
    $("message").textContent = key ? t(key) + (detail ? " (" + detail + ")" : "") : "";
  }

  function select(value) {
    choice = value;
    document.querySelectorAll(".choice").forEach((button) => {
      const on = button.dataset.choice === value;
      button.classList.toggle("selected", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
    $("submit").disabled = value === null;
    say(null);
  }

  async function authorised(url, options) {
    const headers = Object.assign({ Authorization: "Bearer " + token }, (options || {}).headers);
    const response = await fetch(url, Object.assign({}, options, { headers: headers }));
    if (response.status === 401) { throw new Refused(); }
    return response;
  }

  // Images need the token too, which an <img src> cannot send: fetch them and show a blob.
  async function showImage(item) {
    if (imageUrl) { URL.revokeObjectURL(imageUrl); imageUrl = null; }
    $("item-image").hidden = !item.image_url;
    $("no-image").hidden = Boolean(item.image_url);
    $("item-image").removeAttribute("src");
    if (!item.image_url) { return; }
    const response = await authorised(item.image_url);
    if (!response.ok) { say("image_failed", response.statusText); return; }
    const blob = await response.blob();
    if (current !== item) { return; }  // the rater moved on while it loaded
    imageUrl = URL.createObjectURL(blob);
    $("item-image").src = imageUrl;
  }

  function render(state) {
    $("rater-name").textContent = state.rater;
    $("rater-box").hidden = false;
    $("progress").textContent = Math.min(state.rated + (state.done ? 0 : 1), state.total) + " / " + state.total;
    current = state.item;
    if (state.done) { show("done"); return; }
    // textContent, never innerHTML: answers are model output and must not run as markup.
    $("prompt").textContent = current.prompt;
    $("answer-a").textContent = current.answer_a;
    $("answer-b").textContent = current.answer_b;
    $("comment").value = "";
    select(null);
    show("rating");
    if (document.activeElement) { document.activeElement.blur(); }  // keys go to the page again
    showImage(current).catch(failed);
  }

  function failed(err) {
    if (err instanceof Refused) { noAccess("refused"); return; }
    say("save_failed", err.message);
  }

  async function call(url, options) {
    const response = await authorised(url, options);
    const body = await response.json().catch(() => ({}));
    // 409: the item was already rated (another tab); the body is still the next state.
    if (!response.ok && response.status !== 409) { throw new Error(body.error || response.statusText); }
    return body;
  }

  async function load() {
    if (!token) { noAccess("needed"); return; }
    try { render(await call("api/next")); } catch (err) { show("rating"); failed(err); }
  }

  async function submit() {
    if (busy || !current) { return; }
    if (!choice) { say("choose_first"); return; }
    busy = true;
    $("submit").disabled = true;
    // No rater in the body: the server takes it from the invite token.
    const body = { item_id: current.item_id, choice: choice, comment: $("comment").value };
    try {
      render(await call("api/judgments", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }));
    } catch (err) {
      failed(err);
      $("submit").disabled = false;
    } finally {
      busy = false;
    }
  }

  $("lang-toggle").addEventListener("click", () => {
    lang = lang === "en" ? "eu" : "en";
    localStorage.setItem("human-eval-lang", lang);
    applyLanguage();
  });
  document.querySelectorAll(".choice").forEach((button) => {
    button.addEventListener("click", () => select(button.dataset.choice));
  });
  $("submit").addEventListener("click", submit);

  document.addEventListener("keydown", (event) => {
    if ($("rating").hidden || event.ctrlKey || event.metaKey || event.altKey) { return; }
    const inComment = event.target === $("comment");
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); submit(); return; }
    if (inComment) { if (event.key === "Escape") { $("comment").blur(); } return; }
    const picked = KEYS[event.key.toLowerCase()];
    if (picked) { event.preventDefault(); select(picked); }
  });

  applyLanguage();
  load();
})();
