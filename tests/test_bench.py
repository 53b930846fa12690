"""The speed bench and the throughput callback: FLOP accounting, the synthetic workload, a tiny run
of every path, and the perf/* metrics of a CLI fit."""

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from transformers import AutoConfig, CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

from lightning_mllm.benchmarking.throughput import ThroughputWindow
from lightning_mllm.bench import main as bench_main
from lightning_mllm.benchmarking.flops import ModelCounts, counts_from_parts, sample_flops
from lightning_mllm.benchmarking.workload import WorkloadSpec, make_samples, sample_shapes
from lightning_mllm.chat_format import IGNORE_INDEX, IMAGE_TOKEN_ID
from lightning_mllm.random_backbones import SIZES
from helpers import tiny_fit_args
from train import cli_main


def made_up_parts(device: str = "cpu"):
    """A 1-layer Llama (width 8, MLP 12, 2 heads, 1 KV head, 10 tokens) and a 1-layer CLIP tower
    (width 8, MLP 16, 8 px images of 4 px patches), frozen, with a trainable 8 -> 8 connector."""
    with torch.device(device):
        llm = LlamaForCausalLM(LlamaConfig(vocab_size=10, hidden_size=8, intermediate_size=12, num_hidden_layers=1,
                                           num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False))
        vision = CLIPVisionModel(CLIPVisionConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                                  num_attention_heads=2, image_size=8, patch_size=4))
        connector = torch.nn.Linear(8, 8)
    whole = torch.nn.ModuleDict({"vision": vision, "llm": llm, "connector": connector}).requires_grad_(False)
    connector.requires_grad_(True)
    return counts_from_parts(vision, llm.get_decoder(), llm.lm_head, whole, llm.config)


def test_flop_count_of_a_made_up_model_matches_the_hand_count():
    counts = made_up_parts()
    # LLM layer: q 8*8=64, k 8*4=32 (head 4, one KV head), v 32, o 64, gate/up/down 3*8*12=288,
    # two RMSNorms 16 -> 496; plus the final norm 8 -> 504. Embeddings and LM head 10*8=80 each.
    # CLIP: class 8 + patch conv 3*4*4*8=384 + positions 5*8=40 + pre-norm 16
    #       + layer (q,k,v,o 4*(64+8)=288, norms 2*16, fc1 8*16+16=144, fc2 16*8+8=136) 600 + post-norm 16 = 1064.
    assert counts == ModelCounts(vision=1064, vision_tokens=5, llm_non_embedding=504, lm_head=80, trainable=72,
                                 layers=1, d_model=8)
    # Image sample of 10 tokens: vision 2*1064*5 = 10,640; LLM 4*(504+80)*10 = 23,360;
    # attention 6*1*10^2*8 = 4,800; trainable 2*72*10 = 1,440 -> 40,240.
    assert sample_flops(counts, 10, True) == 40_240
    # Text-only sample of 7 tokens: 4*584*7 = 16,352 + 6*1*49*8 = 2,352 + 2*72*7 = 1,008 -> 19,712.
    assert sample_flops(counts, 7, False) == 19_712
    # The same two samples padded into two rows, or packed into one row, count the same.
    padded = {"input_ids": torch.zeros(2, 10, dtype=torch.long), "pixel_values": torch.zeros(1, 3, 8, 8),
              "attention_mask": torch.tensor([[1] * 10, [1] * 7 + [0] * 3])}
    packed = {"input_ids": torch.zeros(1, 20, dtype=torch.long), "pixel_values": torch.zeros(1, 3, 8, 8),
              "segments": torch.tensor([[0] * 10 + [1] * 7 + [-1] * 3]), "lang": ["en", "eu"]}
    for batch, padding in ((padded, 3 / 20), (packed, 3 / 20)):
        window = ThroughputWindow(counts, peak_tflops=1e-9)  # a peak of 1000 FLOP/s
        window.open(0.0)
        window.add_batch(batch)
        window.add_stall(0.5)
        stats = window.close(2.0)
        assert stats["flops"] == 40_240 + 19_712
        assert stats["tokens"] == 17 and stats["samples"] == 2
        assert stats["mfu"] == pytest.approx(59_952 / 2 / 1000)
        assert stats["data_stall_fraction"] == pytest.approx(0.25)
        assert stats["padding_fraction"] == pytest.approx(padding)


def test_full_shapes_give_design_md_flops_per_sample():
    llm_shape, vision_shape = SIZES["full"]
    with torch.device("meta"):
        llm = LlamaForCausalLM(LlamaConfig(**llm_shape, tie_word_embeddings=False))
        vision = CLIPVisionModel(CLIPVisionConfig(**vision_shape))
    counts = counts_from_parts(vision, llm.get_decoder(), llm.lm_head, llm.requires_grad_(False), llm.config)
    assert counts.llm_non_embedding == 6_979_588_096 and counts.lm_head == 128256 * 4096
    # docs/design.md: about 30 TFLOP per sample for 576 image tokens + 60..700 text tokens.
    spec = WorkloadSpec(samples=2000, image_tokens=576, image_size=336, vocab_size=128256, text_only_share=0.0)
    mean = sum(sample_flops(counts, 576 + text, True) for text, _ in sample_shapes(spec)) / spec.samples
    assert 28e12 < mean < 31e12


def test_workload_is_seeded_and_within_its_ranges():
    spec = WorkloadSpec(samples=2000, image_tokens=9, image_size=8, vocab_size=50, special_ids=(0, 1, 49),
                        text_min=20, text_max=40, seed=3)
    assert sample_shapes(spec) == sample_shapes(spec)
    other_seed = WorkloadSpec(**{**spec.as_dict(), "special_ids": (0, 1, 49), "seed": 4})
    assert sample_shapes(spec) != sample_shapes(other_seed)
    lengths = [text for text, _ in sample_shapes(spec)]
    assert min(lengths) == 20 and max(lengths) == 40
    assert 0.07 < sum(not image for _, image in sample_shapes(spec)) / spec.samples < 0.13
    first, again = make_samples(spec)[:50], make_samples(spec)[:50]
    assert [s["input_ids"] for s in first] == [s["input_ids"] for s in again]
    for sample, (text, has_image) in zip(first, sample_shapes(spec)):
        image = sample["input_ids"][:9] == [IMAGE_TOKEN_ID] * 9
        assert image == has_image and len(sample["input_ids"]) == text + 9 * has_image
        words = [t for t in sample["input_ids"] if t != IMAGE_TOKEN_ID]
        assert not {0, 1, 49} & set(words) and all(0 <= t < 50 for t in words)
        labelled = [i for i, label in enumerate(sample["labels"]) if label != IGNORE_INDEX]
        # The answer: the last half of the text, labelled with its own ids.
        assert labelled == list(range(len(sample["input_ids"]) - round(text / 2), len(sample["input_ids"])))


def _measured_tokens(results):
    measured = results["workload"]["measured"]
    return round(measured["mean_tokens"] * measured["samples"]), measured["samples"]


def test_bench_runs_every_path_on_tiny_backbones(tmp_path, cache_dir, tiny_paths, capsys):
    out = tmp_path / "results.json"
    bench_main(["--size", "tiny", "--cache_dir", str(cache_dir), "--warmup", "1", "--steps", "2",
                "--batch_size", "4", "--text_max", "200", "--out", str(out)])
    results = json.loads(out.read_text())
    printed = capsys.readouterr().out
    for key in ("size", "batch_size", "pack_length", "lora_dtype", "attn_implementation", "peak_tflops", "llm_folder"):
        assert key in results["settings"], key
    assert {"torch", "transformers", "peft", "lightning", "device"} <= set(results["environment"])
    tokens, samples = _measured_tokens(results)
    assert set(results["runs"]) == {"project-stage1", "project-stage2", "baseline-stage1", "baseline-stage2"}
    for name, run in results["runs"].items():
        assert name in printed
        for key in ("samples_per_sec", "tokens_per_sec", "mfu", "tflops_per_sec", "peak_memory_gib",
                    "data_stall_fraction", "padding_fraction", "checkpointing", "counts", "flops"):
            assert key in run, (name, key)
        # Both sides counted exactly the measured samples' real tokens (segments vs attention mask).
        assert (run["tokens"], run["samples"]) == (tokens, samples), name
        assert run["samples_per_sec"] > 0 and 0 < run["mfu"] < 1 and 0 <= run["data_stall_fraction"] < 1
    # Same model: the same vision, LLM and head counts on both sides; only the projectors differ.
    project, baseline = results["runs"]["project-stage2"]["counts"], results["runs"]["baseline-stage2"]["counts"]
    assert {k: project[k] for k in ("vision", "llm_non_embedding", "lm_head")} == \
           {k: baseline[k] for k in ("vision", "llm_non_embedding", "lm_head")}
    assert set(results["ratios"]) == {"stage1", "stage2"}
    assert results["ratios"]["stage2"]["samples_per_sec"] > 0 and "project/baseline" in printed


def test_bench_qlora_on_packed_rows_counts_the_same_tokens(tmp_path, cache_dir, tiny_paths):
    results = bench_main(["--size", "tiny", "--cache_dir", str(cache_dir), "--warmup", "1", "--steps", "2",
                          "--batch_size", "4", "--text_max", "200", "--pack_length", "512", "--runs", "project-stage2",
                          "--lora_dtype", "bfloat16", "--load_in_4bit", "--gradient_checkpointing"])
    run = results["runs"]["project-stage2"]
    assert run["load_in_4bit"] and run["checkpointing"]
    assert (run["tokens"], run["samples"]) == _measured_tokens(results)
    # 4-bit weights count as their unpacked shapes: the same LLM size as in 16 or 32 bits.
    with torch.device("meta"):
        llm = LlamaForCausalLM(AutoConfig.from_pretrained(tiny_paths["llm"]))
    head_and_embeddings = llm.lm_head.weight.numel() + llm.get_input_embeddings().weight.numel()
    assert run["counts"]["llm_non_embedding"] == sum(p.numel() for p in llm.parameters()) - head_and_embeddings
    with pytest.raises(ValueError, match="--pack_length 100 is shorter"):
        bench_main(["--size", "tiny", "--cache_dir", str(cache_dir), "--pack_length", "100",
                    "--runs", "project-stage2"])


def test_bench_profile_prints_both_sides_operators(tmp_path, cache_dir, tiny_paths, capsys):
    results = bench_main(["--size", "tiny", "--cache_dir", str(cache_dir), "--warmup", "1", "--steps", "2",
                          "--batch_size", "4", "--text_max", "200", "--pack_length", "512",
                          "--runs", "project-stage1,baseline-stage1", "--profile", "6"])
    printed = capsys.readouterr().out
    project, baseline = (results["runs"][f"{side}-stage1"]["profile"] for side in ("project", "baseline"))
    # Both sides multiply matrices; per-step figures are the profiled totals over the 2 timed steps.
    assert project["aten::mm"]["cpu_ms"] > 0 and baseline["aten::mm"]["cpu_ms"] > 0
    assert project["aten::mm"]["calls"] == int(project["aten::mm"]["calls"])
    table = printed[printed.index("stage1: self cpu time per step (ms)"):].splitlines()
    assert table[1].split()[:3] == ["operator", "project", "calls"] and len(table) == 2 + 6 + 1
    assert table[-1].startswith("all operators") and "stage2:" not in printed


def test_repeats_report_the_median_run_and_every_paired_ratio():
    from lightning_mllm.benchmarking.suite import _median_run, ratio_spread

    project = [{"samples_per_sec": v, "repeat": i} for i, v in enumerate((12.0, 10.0, 11.0))]
    baseline = [{"samples_per_sec": v} for v in (6.0, 5.0, 5.5)]
    median = _median_run(project)
    assert (median["samples_per_sec"], median["repeat"]) == (11.0, 2)
    assert median["repeats_samples_per_sec"] == [12.0, 10.0, 11.0]
    assert _median_run(project[:2])["samples_per_sec"] == 10.0  # the lower middle of an even count
    # Repeat i's project run is paired with repeat i's baseline run.
    assert ratio_spread({"project-stage1": project, "baseline-stage1": baseline}) == {"stage1": [2.0, 2.0, 2.0]}
    failed = {"error": "out of memory", "failed": True}
    assert _median_run([project[0], failed]) is failed  # a failure is reported, never voted away


def test_throughput_monitor_logs_perf_metrics_in_a_cli_fit(tmp_path, tiny_paths, synthetic_root):
    monitor = [{"class_path": "callbacks.ThroughputMonitor", "init_args": {"log_every_n_steps": 1}}]
    cli = cli_main(tiny_fit_args(tmp_path, synthetic_root, "--trainer.callbacks+", json.dumps(monitor)))
    events = EventAccumulator(cli.trainer.logger.log_dir)
    events.Reload()
    values = {tag: [e.value for e in events.Scalars(tag)] for tag in
              ("perf/samples_per_sec", "perf/tokens_per_sec", "perf/mfu", "perf/data_stall_fraction")}
    assert all(len(v) == cli.trainer.global_step == 4 for v in values.values())
    assert all(v > 0 for v in values["perf/samples_per_sec"] + values["perf/mfu"])
    # Every sample is longer than its image tokens.
    image = cli.model.image_tokens
    assert all(t > image * s for t, s in zip(values["perf/tokens_per_sec"], values["perf/samples_per_sec"]))
    assert all(0 <= v < 1 for v in values["perf/data_stall_fraction"])
