// The rating page's behaviour: name form, one item at a time, choice + comment, keys, language.
// The server decides which item comes next (from the judgments file), so a reload resumes there.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const KEYS = { "1": "A", a: "A", "2": "B", b: "B", "3": "tie", t: "tie", "4": "both_bad", x: "both_bad" };
  let lang = localStorage.getItem("human-eval-lang") === "eu" ? "eu" : "en";
  let rater = localStorage.getItem("human-eval-rater") || "";
  let current = null;  // the item on screen
  let choice = null;
  let busy = false;

  const t = (key) => window.STRINGS[lang][key];

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("item-image").alt = t("image_alt");
  }

  function show(section) {
    ["name-form", "rating", "done"].forEach((id) => { $(id).hidden = id !== section; });
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
    $("item-image").hidden = !current.image_url;
    $("no-image").hidden = Boolean(current.image_url);
    if (current.image_url) { $("item-image").src = current.image_url; }
    $("comment").value = "";
    select(null);
    show("rating");
    if (document.activeElement) { document.activeElement.blur(); }  // keys go to the page again
  }

  async function call(url, options) {
    const response = await fetch(url, options);
    const body = await response.json().catch(() => ({}));
    // 409: the item was already rated (another tab); the body is still the next state.
    if (!response.ok && response.status !== 409) { throw new Error(body.error || response.statusText); }
    return body;
  }

  async function load() {
    if (!rater) { show("name-form"); $("name-input").focus(); return; }
    try { render(await call("api/next?rater=" + encodeURIComponent(rater))); } catch (err) { show("rating"); say("save_failed", err.message); }
  }

  async function submit() {
    if (busy || !current) { return; }
    if (!choice) { say("choose_first"); return; }
    busy = true;
    $("submit").disabled = true;
    const body = { rater: rater, item_id: current.item_id, choice: choice, comment: $("comment").value };
    try {
      render(await call("api/judgments", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }));
    } catch (err) {
      say("save_failed", err.message);
      $("submit").disabled = false;
    } finally {
      busy = false;
    }
  }

  $("name-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("name-input").value.trim();
    if (!name) { $("name-input").setCustomValidity(t("name_required")); $("name-input").reportValidity(); return; }
    rater = name;
    localStorage.setItem("human-eval-rater", rater);
    load();
  });
  $("name-input").addEventListener("input", () => $("name-input").setCustomValidity(""));
  $("change-rater").addEventListener("click", () => {
    localStorage.removeItem("human-eval-rater");
    rater = "";
    $("rater-box").hidden = true;
    $("name-input").value = "";
    load();
  });
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
