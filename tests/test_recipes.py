"""Recipes end to end on small fixtures in each published schema: PixMo flat rows with URLs served
on 127.0.0.1 (read from a Hugging Face cache layout), a ``datasets`` folder with images inside,
A-OKVQA and VQAv2 Parquet, img2dataset tars, CC3M-eu rows joined to them by URL, text-only
messages; every result streams through the mixture datamodule with labels on the replies only."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from data_fixtures import (
    ImageServer,
    check_streams_with_labels,
    distinct_image,
    sha256,
    shard_records,
    tiny_processor,
    write_img2dataset_shard,
)

from datamodules.column_rows import ColumnError
from datamodules.recipes.__main__ import main
from lightning_mllm.evaluation.formats import load_items


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    return tiny_processor(tmp_path_factory.mktemp("backbones"))


def _image_struct(seed: int) -> dict:
    return {"bytes": distinct_image(seed), "path": None}


def _prepare(name: str, out, *extra: str) -> dict:
    return main(["prepare", name, "--out", str(out), "--workers", "1", *extra])


def test_pixmo_ama_from_the_hub_cache_with_urls_served_locally(tmp_path, monkeypatch, processor):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = tmp_path / "hub" / "datasets--allenai--pixmo-ask-model-anything" / "snapshots" / "0123abc" / "data"
    snapshot.mkdir(parents=True)
    with ImageServer() as server:
        rows = [{"image_url": f"{server.url}/img/{i}.jpg", "image_sha256": sha256(distinct_image(i)),
                 "question": f"What is shown in picture {i}, part {j}?", "answer": f"Answer {i}.{j} here"}
                for i in range(4) for j in range(3)]
        rows += [{"image_url": f"{server.url}/dead/9.jpg", "image_sha256": "a" * 64, "question": "Dead?", "answer": "x"},
                 {"image_url": f"{server.url}/img/5.jpg", "image_sha256": "b" * 64, "question": "Sum?", "answer": "y"},
                 {"image_url": f"{server.url}/junk/6.jpg", "image_sha256": None, "question": "Junk?", "answer": "z"}]
        pq.write_table(pa.Table.from_pylist(rows[::2] + rows[1::2]), snapshot / "train-00000-of-00001.parquet")
        card = _prepare("pixmo-ama-en", tmp_path / "data", "--fetch-images", "--max-turns", "2", "--timeout", "5",
                        "--tokenizer", processor.tokenizer.name_or_path)
    folder = tmp_path / "data" / "pixmo-ama-en"
    assert card["rejected"] == {"download_checksum": 1, "download_http_404": 1, "download_undecodable": 1}
    records = shard_records(folder)
    # Four images with three questions each, at most two pairs a conversation: 2 + 1 per image.
    assert sorted(sum(m["role"] == "assistant" for m in r["messages"]) for r in records.values()) == [1] * 4 + [2] * 4
    assert all(r["has_image"] and r["source"] == "pixmo-ama" and r["lang"] == "en" for r in records.values())
    # The file holds rows 0, 2, 4, ... then 1, 3, ...: an image's turns follow the file's order.
    first = next(r for r in records.values() if "picture 0, part 0" in r["messages"][0]["content"])
    assert [m["content"] for m in first["messages"] if m["role"] == "user"] == [
        "<image>\nWhat is shown in picture 0, part 0?", "What is shown in picture 0, part 2?"]
    assert first["id"] == "pixmo-ama-train-00000-of-00001-0-0"
    assert card["stats"]["samples"] == 8 and card["stats"]["turns"] == 12 and card["stats"]["tokens_per_word"] > 0
    assert "download_http_404: 1" in (folder / "pixmo-ama-en.card.md").read_text()
    assert check_streams_with_labels(folder, processor, "pixmo-ama", "en") == 4


def test_missing_column_names_the_file_the_column_and_the_setting(tmp_path):
    rows = tmp_path / "ama-eu.jsonl"
    rows.write_text(json.dumps({"image_url": "http://x/1.jpg", "galdera": "Zer?", "erantzuna": "Hau."}) + "\n")
    with pytest.raises(ColumnError, match=r"ama-eu\.jsonl: column 'question' is missing \(mapped by the setting "
                                          r"--column question=COLUMN\)"):
        _prepare("pixmo-ama-eu", tmp_path / "out", "--input", str(rows), "--column", "sha256=")
    mapped = ["--input", str(rows), "--column", "sha256=", "--column", "question=galdera", "--column",
              "answer=erantzuna", "--overwrite"]
    with pytest.raises(ValueError, match="--fetch-images"):
        _prepare("pixmo-ama-eu", tmp_path / "out", *mapped)
    card = _prepare("pixmo-ama-eu", tmp_path / "out", *mapped, "--images", str(tmp_path / "empty"))
    assert card["rejected"] == {"image_not_downloaded": 1}  # mapped, but the URL was never fetched


def test_llava_cc3m_595k_chat_json(tmp_path, processor):
    (tmp_path / "images").mkdir()
    chat = []
    for i in range(3):
        name = f"GCC_train_{i:09d}.jpg"
        (tmp_path / "images" / name).write_bytes(distinct_image(70 + i))
        chat.append({"id": f"GCC_train_{i:09d}", "image": name, "conversations": [
            {"from": "human", "value": "Give a brief description of the image.\n<image>"},
            {"from": "gpt", "value": f"caption {i}"}]})
    (tmp_path / "chat.json").write_text(json.dumps(chat))
    card = _prepare("cc3m-595k-en", tmp_path / "data", "--input", str(tmp_path / "chat.json"), "--image-root",
                    str(tmp_path / "images"))
    records = shard_records(tmp_path / "data" / "cc3m-595k-en")
    assert card["stats"]["images"] == 3 and records["GCC_train_000000002"]["messages"][1]["content"] == "caption 2"
    check_streams_with_labels(tmp_path / "data" / "cc3m-595k-en", processor, "cc3m", "en", batches=1)


def test_pixmo_capqa_eu_from_a_datasets_folder_groups_rows_of_one_image(tmp_path, processor):
    datasets = pytest.importorskip("datasets")
    seeds = [10, 11, 10, 12, 10, 11]  # image 10 has three rows, 11 two, 12 one
    features = datasets.Features({"image": datasets.Image(), "question": datasets.Value("string"),
                                  "answer": datasets.Value("string")})
    table = {"image": [_image_struct(s) for s in seeds], "question": [f"Galdera {k}?" for k in range(6)],
             "answer": [f"Erantzuna {k}" for k in range(6)]}
    datasets.Dataset.from_dict(table, features=features).save_to_disk(str(tmp_path / "capqa-eu"))
    card = _prepare("pixmo-capqa-eu", tmp_path / "data", "--input", str(tmp_path / "capqa-eu"))
    records = list(shard_records(tmp_path / "data" / "pixmo-capqa-eu").values())
    replies = [[m["content"] for m in r["messages"] if m["role"] == "assistant"] for r in records]
    assert replies == [["Erantzuna 0", "Erantzuna 2", "Erantzuna 4"], ["Erantzuna 1", "Erantzuna 5"], ["Erantzuna 3"]]
    assert card["languages"] == {"eu": 3} and not card["rejected"]
    assert check_streams_with_labels(tmp_path / "data" / "pixmo-capqa-eu", processor, "capqa", "eu") == 4


def test_aokvqa_and_vqav2_parquet(tmp_path, processor):
    aokvqa = [{"image": _image_struct(20 + i), "question_id": f"q{i}", "question": f"Which tool is item {i}?",
               "choices": ["hammer", "saw", "drill", "file"], "correct_choice_idx": i % 4,
               "direct_answers": ["saw"] * 10, "rationales": ["because"]} for i in range(5)]
    aokvqa.append({**aokvqa[0], "question_id": "bad", "correct_choice_idx": 7})
    pq.write_table(pa.Table.from_pylist(aokvqa), tmp_path / "train-00000-of-00001.parquet")
    card = _prepare("aokvqa-en", tmp_path / "data", "--input", str(tmp_path))
    assert card["rejected"] == {"bad_choices": 1}
    records = shard_records(tmp_path / "data" / "aokvqa-en")
    q2 = records["q2"]["messages"]
    assert q2[0]["content"].splitlines() == ["<image>", "Which tool is item 2?", "A. hammer", "B. saw", "C. drill",
                                             "D. file", "Answer with the option's letter from the given choices directly."]
    assert q2[1]["content"] == "C"
    assert check_streams_with_labels(tmp_path / "data" / "aokvqa-en", processor, "aokvqa", "en") == 4

    vqa = [{"image": _image_struct(30), "question_id": 7, "question": "What colour?",
            "multiple_choice_answer": ["red", "blue", "red", "red"]}]
    pq.write_table(pa.Table.from_pylist(vqa), tmp_path / "vqa.parquet")
    _prepare("vqav2-eu", tmp_path / "data", "--input", str(tmp_path / "vqa.parquet"))
    (record,) = shard_records(tmp_path / "data" / "vqav2-eu").values()
    assert record["messages"][1]["content"] == "red" and record["lang"] == "eu"
    assert record["messages"][0]["content"].endswith("Erantzun galderari hitz edo esapide bakar batekin.")
    check_streams_with_labels(tmp_path / "data" / "vqav2-eu", processor, "vqav2", "eu", batches=1)


def test_cc3m_from_img2dataset_tars_and_cc3m_eu_joined_by_url(tmp_path, processor):
    tars = tmp_path / "cc3m"
    tars.mkdir()
    entries = [[(f"http://cc3m/{s}/{i}.jpg", f"a photo of thing {s}{i}", distinct_image(40 + 10 * s + i))
                for i in range(3)] for s in range(2)]
    write_img2dataset_shard(tars, 0, entries[0], failures=[("http://cc3m/gone.jpg", "HTTP Error 404")])
    write_img2dataset_shard(tars, 1, entries[1])
    card = _prepare("cc3m-en", tmp_path / "data", "--input", str(tars))
    assert card["rejected"] == {"img2dataset_failed_to_download": 1} and card["stats"]["samples"] == 6
    records = shard_records(tmp_path / "data" / "cc3m-en")
    assert records["000000001"]["messages"][1]["content"] == "a photo of thing 01"
    # The image bytes are copied from the tar as they are, not re-encoded.
    from datamodules.samples import read_shard

    first = next(read_shard(str(tmp_path / "data" / "cc3m-en" / "cc3m-en-000000.tar")))
    assert first["jpg"] == entries[0][0][2]
    assert check_streams_with_labels(tmp_path / "data" / "cc3m-en", processor, "cc3m", "en") == 4

    captions = tmp_path / "cc3m-eu.jsonl"
    rows = [{"url": u, "caption": f"{c} (eu)"} for u, c, _ in entries[1]] + [{"url": "http://cc3m/gone.jpg",
                                                                              "caption": "galdua"}]
    captions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    card = _prepare("cc3m-eu", tmp_path / "data", "--input", str(captions), "--image-tars", str(tars))
    assert card["rejected"] == {"img2dataset_failed_to_download": 1} and card["stats"]["samples"] == 3
    assert {r["messages"][1]["content"] for r in shard_records(tmp_path / "data" / "cc3m-eu").values()} == \
        {"a photo of thing 10 (eu)", "a photo of thing 11 (eu)", "a photo of thing 12 (eu)"}
    check_streams_with_labels(tmp_path / "data" / "cc3m-eu", processor, "cc3m", "eu", batches=1)


def test_text_only_instructions(tmp_path, processor):
    rows = tmp_path / "text-eu.jsonl"
    rows.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Idatzi {i}."},
                                                     {"role": "assistant", "content": f"Testua {i}."}]}) + "\n"
                            for i in range(4)))
    card = _prepare("text-eu", tmp_path / "data", "--input", str(rows))
    assert card["stats"] == {**card["stats"], "samples": 4, "images": 0}
    assert check_streams_with_labels(tmp_path / "data" / "text-eu", processor, "text", "eu") == 4


def test_evaluation_recipes_write_what_the_paper_config_reads(tmp_path):
    vqa = [{"image": _image_struct(50 + i), "question_id": i, "question": f"How many {i}?",
            "answers": [{"answer": str(i), "answer_confidence": "yes", "answer_id": k} for k in range(10)]}
           for i in range(3)]
    pq.write_table(pa.Table.from_pylist(vqa), tmp_path / "vqa.parquet")
    card = _prepare("vqav2-eval-eu", tmp_path / "eval", "--input", str(tmp_path / "vqa.parquet"), "--limit", "2")
    items = load_items("vqa", str(tmp_path / "eval" / "vqav2" / "vqav2-eu.jsonl"), "vqav2", "eu")
    assert [i.answers for i in items] == [["0"] * 10, ["1"] * 10] and card["stats"]["samples"] == 2
    assert items[1].image.endswith(".jpg") and open(items[1].image, "rb").read() == distinct_image(51)

    aokvqa = [{"image": _image_struct(60), "question_id": "a1", "question": "Which?", "choices": ["x", "y", "z"],
               "correct_choice_idx": 1, "direct_answers": ["y"] * 10}]
    pq.write_table(pa.Table.from_pylist(aokvqa), tmp_path / "aok.parquet")
    _prepare("aokvqa-eval-en", tmp_path / "eval", "--input", str(tmp_path / "aok.parquet"))
    (item,) = load_items("aokvqa_json", str(tmp_path / "eval" / "aokvqa" / "aokvqa_v1p0_val.json"), "aokvqa", "en",
                         image_root=str(tmp_path / "coco"))
    assert item.answer == "B" and item.options == {"A": "x", "B": "y", "C": "z"}

    with ImageServer() as server:
        capqa = tmp_path / "capqa.jsonl"
        capqa.write_text("".join(json.dumps({"image_url": f"{server.url}/img/{i}.jpg", "question": f"Q{i}?",
                                             "answer": f"R{i}"}) + "\n" for i in range(2)))
        from datamodules.url_images import download, urls_of

        download(urls_of([str(capqa)], "image_url"), tmp_path / "images")
    _prepare("pixmo-capqa-eval-en", tmp_path / "eval", "--input", str(capqa), "--images", str(tmp_path / "images"))
    items = load_items("open", str(tmp_path / "eval" / "pixmo-capqa" / "capqa-en.jsonl"), "pixmo-capqa", "en")
    assert [(i.question, i.answer) for i in items] == [("Q0?", "R0"), ("Q1?", "R1")]


def test_list_and_missing_cache(tmp_path, monkeypatch, capsys):
    recipes = main(["list"])
    names = {r.name for r in recipes}
    for expected in ("cc3m-en", "cc3m-eu", "pixmo-ama-en", "pixmo-ama-eu", "pixmo-capqa-en", "pixmo-capqa-eu",
                     "vqav2-en", "vqav2-eu", "aokvqa-en", "aokvqa-eu", "text-en", "text-eu", "vqav2-eval-en",
                     "aokvqa-eval-eu", "pixmo-capqa-eval-eu", "wildvision-eval-eu"):
        assert expected in names
    assert "lukasArana/pixmo-ask-model-anything-eu" in capsys.readouterr().out
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="hf download lukasArana/A-OKVQA-eu --repo-type dataset"):
        _prepare("aokvqa-eu", tmp_path / "out")


def test_max_image_side_reaches_the_shard_writer_and_its_manifest(tmp_path):
    (tmp_path / "images").mkdir()
    chat = []
    for i, size in enumerate([(320, 200), (90, 120)]):  # one past the bound, one within it
        name = f"GCC_train_{i:09d}.jpg"
        (tmp_path / "images" / name).write_bytes(distinct_image(80 + i, size))
        chat.append({"id": f"GCC_train_{i:09d}", "image": name, "conversations": [
            {"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": f"caption {i}"}]})
    (tmp_path / "chat.json").write_text(json.dumps(chat))
    args = ["--input", str(tmp_path / "chat.json"), "--image-root", str(tmp_path / "images")]
    card = _prepare("cc3m-595k-en", tmp_path / "data", *args, "--max-image-side", "160")
    manifest = json.loads((tmp_path / "data" / "cc3m-595k-en" / "cc3m-595k-en.manifest.json").read_text())
    assert (manifest["max_image_side"], manifest["images_shrunk"]) == (160, 1)
    assert card["settings"]["max_image_side"] == 160
    from datamodules.samples import read_shard

    sizes = [Image.open(io.BytesIO(s["jpg"])).size for s in read_shard(
        str(tmp_path / "data" / "cc3m-595k-en" / "cc3m-595k-en-000000.tar"))]
    assert sizes == [(160, 100), (90, 120)]
    # Another bound over the same folder is refused unless --overwrite replaces the shards.
    with pytest.raises(FileExistsError, match="max_image_side=160 where this run asks 224"):
        _prepare("cc3m-595k-en", tmp_path / "data", *args, "--max-image-side", "224")
    with pytest.raises(ValueError, match=r"max_image_side=32 \(--max-image-side\) must be at least 64"):
        _prepare("cc3m-595k-en", tmp_path / "other", *args, "--max-image-side", "32")
    with pytest.raises(SystemExit, match="training recipes only; vqav2-eval-eu"):
        _prepare("vqav2-eval-eu", tmp_path / "eval", *args, "--max-image-side", "160")
