"""The rating web app: its routes through Flask's test client, and the page in a real headless
Chromium driven by Playwright against the app served by waitress on a free localhost port, opened
through an invite link (and without one, or with a revoked one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import serve_rating_app
from PIL import Image

from lightning_mllm.human_eval.app import create_app
from lightning_mllm.human_eval.invites import add_invite, invites_path, revoke
from lightning_mllm.human_eval.rating_set import SET_FORMAT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MODELS = ("secret-model-one", "secret-model-two")


@pytest.fixture
def rating_set(tmp_path) -> Path:
    """Three items (the second without an image), model names that must never reach the page."""
    image = tmp_path / "images" / "red.png"
    image.parent.mkdir()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(image)
    (tmp_path / "secret.txt").write_text("not for raters")
    header = {"format": SET_FORMAT, "seed": 0, "models": list(MODELS), "langs": ["en", "eu"], "per_cell": 1}
    items = [{"item_id": f"item{n}", "key": f"wild/en/{n}", "benchmark": "wild", "lang": "en", "id": str(n),
              "image": None if n == 1 else str(image), "prompt": f"What is in picture {n}?",
              "answer_a": f"Left answer {n}", "answer_b": f"Right answer {n}",
              "model_a": MODELS[n % 2], "model_b": MODELS[1 - n % 2]} for n in range(3)]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in [header, *items]))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_routes_serve_only_set_images_and_refuse_bad_judgments(rating_set, tmp_path):
    judgments = tmp_path / "judgments.jsonl"
    auth = {"Authorization": f"Bearer {add_invite(invites_path(judgments), 'Ane')}"}
    client = create_app(rating_set, judgments).test_client()
    assert client.get("/api/next").status_code == 401
    state = client.get("/api/next", headers=auth).get_json()
    assert state["item"]["item_id"] == "item0" and (state["rated"], state["total"]) == (0, 3)
    assert not any(name in json.dumps(state) for name in (*MODELS, "wild/en/0"))
    assert client.get("/" + state["item"]["image_url"], headers=auth).data[:4] == b"\x89PNG"
    for url in ("/images/item1", "/images/nope", "/images/../secret.txt", "/images/..%2Fsecret.txt",
                "/images/%2e%2e/secret.txt", "/static/../secret.txt"):
        assert client.get(url, headers=auth).status_code == 404, url
    post = lambda **body: client.post("/api/judgments", json={"comment": "", **body}, headers=auth)
    assert post(item_id="item0", choice="maybe").status_code == 400
    assert post(item_id="item9", choice="A").status_code == 404
    assert post(item_id="item0", choice="A").get_json()["item"]["item_id"] == "item1"
    repeated = post(item_id="item0", choice="B")
    assert repeated.status_code == 409 and repeated.get_json()["rated"] == 1
    assert [(j["item_id"], j["choice"]) for j in _lines(judgments)] == [("item0", "A")]
    assert post(item_id="item1", choice="A", comment="x" * 70_000).status_code == 413  # over the body limit
    # Another server on the same file sees the judgment: progress comes from the file alone.
    assert create_app(rating_set, judgments).test_client().get("/api/next", headers=auth).get_json()["rated"] == 1


@pytest.fixture
def served(rating_set, tmp_path):
    """The app behind waitress on a free port in a background thread; yields (base URL, judgments path)."""
    judgments = tmp_path / "judgments.jsonl"
    with serve_rating_app(rating_set, judgments) as url:
        yield url, judgments


def _browser(playwright):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    return browser, browser.new_page()


NEEDS_CHROMIUM = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                                  "(apt-get install chromium; .ci/run installs it)")


@NEEDS_CHROMIUM
def test_page_without_a_valid_invite_says_so_and_shows_nothing(served):
    from playwright.sync_api import expect, sync_playwright

    url, judgments = served
    revoked = add_invite(invites_path(judgments), "Jon")
    revoke(invites_path(judgments), "Jon")
    with sync_playwright() as playwright:
        browser, page = _browser(playwright)
        page.set_default_timeout(10_000)
        page.goto(url)
        expect(page.locator("#invite-needed")).to_be_visible()
        expect(page.locator("#invite-needed")).to_contain_text("needs your personal invite link")
        expect(page.locator("#rating")).to_be_hidden()
        page.click("#lang-toggle")
        expect(page.locator("#invite-needed")).to_contain_text("gonbidapen-esteka pertsonala behar du")
        for token in ("not-a-real-token", revoked):
            page.goto(f"{url}#invite={token}")
            page.reload()  # a new fragment alone does not reload the page
            expect(page.locator("#invite-refused")).to_be_visible()
            expect(page.locator("#invite-needed")).to_be_hidden()
            expect(page.locator("#rating")).to_be_hidden()
            assert "What is in picture" not in page.content()
        browser.close()
    assert judgments.read_bytes() == b""


@NEEDS_CHROMIUM
def test_rater_rates_by_clicks_and_keys_reloads_and_resumes(served):
    from playwright.sync_api import expect, sync_playwright

    url, judgments = served
    token = add_invite(invites_path(judgments), "Miren")
    with sync_playwright() as playwright:
        browser, page = _browser(playwright)
        page.set_default_timeout(10_000)
        page.goto(f"{url}#invite={token}")
        expect(page.locator("#rater-name")).to_have_text("Miren")
        expect(page.locator("#progress")).to_have_text("1 / 3")
        expect(page.locator("#prompt")).to_have_text("What is in picture 0?")
        expect(page.locator("#answer-a")).to_have_text("Left answer 0")
        expect(page.locator("#answer-b")).to_have_text("Right answer 0")
        expect(page.locator("#item-image")).to_be_visible()
        page.wait_for_function("document.getElementById('item-image').naturalWidth === 32")
        assert not any(name in page.content() for name in MODELS)

        # Item 1 by clicks: choice, comment, Submit.
        page.click("button.choice[data-choice=A]")
        page.fill("#comment", "clear winner")
        page.click("#submit")
        expect(page.locator("#progress")).to_have_text("2 / 3")
        expect(page.locator("#prompt")).to_have_text("What is in picture 1?")
        expect(page.locator("#no-image")).to_be_visible()
        assert len(_lines(judgments)) == 1  # saved at once, before the next item

        # Item 2 by keys, then a reload: the page must come back at item 3, not 1 or 2.
        page.keyboard.press("2")
        expect(page.locator("button.choice[data-choice=B]")).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("Enter")
        expect(page.locator("#progress")).to_have_text("3 / 3")
        page.reload()
        expect(page.locator("#prompt")).to_have_text("What is in picture 2?")
        expect(page.locator("#progress")).to_have_text("3 / 3")
        expect(page.locator("#rater-name")).to_have_text("Miren")

        # Basque: the page's own text switches; item 3 by key, with a comment typed (its letters
        # must not count as shortcuts) and sent with Enter.
        page.click("#lang-toggle")
        expect(page.locator("button.choice[data-choice=A]")).to_contain_text("Hobea: A")
        expect(page.locator("button.choice[data-choice=both_bad]")).to_contain_text("Biak txarrak")
        expect(page.locator("label[for=comment]")).to_have_text("Iruzkina (aukerakoa)")
        expect(page.locator("#submit")).to_have_text("Bidali")
        expect(page.locator("html")).to_have_attribute("lang", "eu")
        page.keyboard.press("t")
        page.click("#comment")
        page.keyboard.type("berdin-berdinak, 1 a b")
        page.keyboard.press("Enter")
        expect(page.locator("#done")).to_have_text("Amaitu duzu. Eskerrik asko!")
        expect(page.locator("#progress")).to_have_text("3 / 3")
        page.click("#lang-toggle")
        expect(page.locator("#done")).to_have_text("Done. Thank you!")
        browser.close()

    saved = _lines(judgments)
    assert [(j["item_id"], j["choice"], j["rater"], j["comment"]) for j in saved] == [
        ("item0", "A", "Miren", "clear winner"),
        ("item1", "B", "Miren", ""),
        ("item2", "tie", "Miren", "berdin-berdinak, 1 a b")]
