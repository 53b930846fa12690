"""The synthetic bilingual data: correct Basque, answers that depend on the image, shard format."""

import io
import json
import random

from PIL import Image

from lightning_mllm import synthetic_scenes as scenes
from datamodules.samples import read_shard
from datamodules.synthetic_shards import SyntheticSpec, is_complete, write_synthetic_shards


def test_basque_questions_and_answers_are_well_formed():
    scene = [scenes.Shape("circle", "red", "left"), scenes.Shape("square", "blue", "right")]
    rng = random.Random(0)
    qa = {k: scenes.question([scene[0]], k, "eu", rng) for k in scenes.QUESTION_KINDS}
    assert (qa["colour"].question, qa["colour"].answer) == ("Zer kolore du zirkuluak?", "Gorria.")
    assert (qa["position"].question, qa["position"].answer) == ("Non dago zirkulua?", "Ezkerrean.")
    assert (qa["shape"].question, qa["shape"].answer) == ("Zer forma dago ezkerrean?", "Zirkulua.")
    assert (qa["count"].question, qa["count"].answer) == ("Zenbat forma daude?", "Bat.")
    assert scenes.caption(scene, "eu") == "Zirkulu gorri bat ezkerrean eta karratu urdin bat eskuinean."
    assert scenes.caption(scene, "en") == "A red circle on the left and a blue square on the right."


def test_answers_follow_the_scene():
    rng = random.Random(1)
    for colour in scenes.COLOURS:
        qa = scenes.question([scenes.Shape("triangle", colour, "middle")], "colour", "en", rng)
        assert qa.answer == colour.capitalize() + "."
    three = [scenes.Shape(k, "green", s) for k, s in zip(scenes.SHAPES, scenes.SLOTS)]
    assert scenes.question(three, "count", "eu", rng).answer == "Hiru."


def test_rendered_shapes_sit_in_their_slots_with_their_colours():
    scene = [scenes.Shape("square", "red", "left"), scenes.Shape("circle", "blue", "right")]
    image = scenes.render_scene(scene, 96, random.Random(0))
    row = [image.getpixel((x, y)) for y in range(96) for x in (16,)]
    assert scenes.RGB["red"] in row
    assert scenes.RGB["blue"] in [image.getpixel((80, y)) for y in range(96)]
    assert all(image.getpixel((48, y)) == (235, 235, 235) for y in range(96))  # middle slot empty


def test_shards_hold_json_and_png_per_language(tmp_path):
    spec = SyntheticSpec(train_per_language=10, eval_per_language=4, samples_per_shard=4, image_size=32)
    root = write_synthetic_shards(spec, tmp_path / "syn")
    assert is_complete(root)
    assert len(list((root / "train").glob("eu-*.tar"))) == 3
    samples = list(read_shard(str(root / "eval" / "eu-000000.tar")))
    assert len(samples) == 4
    record = json.loads(samples[0]["json"])
    assert record["lang"] == "eu" and record["source"] == "synthetic-eval" and record["id"]
    assert [m["role"] for m in record["messages"]] == ["user", "assistant"]
    assert record["messages"][0]["content"].startswith("<image>\n")
    assert Image.open(io.BytesIO(samples[0]["png"])).size == (32, 32)
    # The same spec writes the same data.
    again = write_synthetic_shards(spec, tmp_path / "syn2")
    def contents(folder):
        return [(s["__key__"], s["json"], s["png"]) for s in read_shard(str(folder / "train" / "en-000001.tar"))]

    assert contents(again) == contents(root)


def test_tiny_tower_pretraining_learns_the_scenes():
    import torch

    from lightning_mllm.tiny_backbones import build_vision
    from lightning_mllm.tiny_vision_pretraining import pretrain_on_scenes

    torch.manual_seed(0)
    model = build_vision()
    losses = pretrain_on_scenes(model, steps=40, batch_size=32)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert not model.training  # handed back ready to freeze


def test_building_a_tiny_backbone_leaves_the_callers_rng_alone(tmp_path):
    import torch

    from lightning_mllm.tiny_backbones import ensure_tiny_backbone

    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    first = ensure_tiny_backbone("llm", tmp_path / "a")
    assert torch.equal(torch.rand(2), expected)
    # Seeded inside: the same seed builds the same weights wherever it is called from.
    torch.manual_seed(99)
    second = ensure_tiny_backbone("llm", tmp_path / "b")
    from safetensors.torch import load_file
    a, b = (load_file(f"{p}/model.safetensors") for p in (first, second))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
