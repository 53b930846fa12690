"""Tiny backbones for the demo and the tests, saved where ``from_pretrained`` reads them.

Nothing is downloaded: a CLIP-architecture vision tower, a Llama-architecture LLM and a small
byte-level BPE tokenizer with a Llama-3-style chat template are built from config objects,
saved to a folder and then loaded back by the same code path that loads the real
``openai/clip-vit-large-patch14-336`` and ``meta-llama/Llama-3.1-8B-Instruct``. The LLM is random;
the vision tower gets a few seconds of pretraining on synthetic scenes, as a stand-in for CLIP's.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, LlamaConfig,
                          LlamaForCausalLM, PreTrainedTokenizerFast)

from lightning_mllm.files import atomic_folder
from lightning_mllm.languages import language_file
from lightning_mllm.synthetic_scenes import LANGUAGES, vocabulary_corpus
from lightning_mllm.tiny_vision_pretraining import pretrain_on_scenes

# The Llama-3 chat format: header tokens around the role, <|eot_id|> closing every turn.
LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                  "<|eot_id|>", "<|finetune_right_pad_id|>"]
# The files whose code decides the tiny backbones' weights: their hash is part of the cache
# folder names, so editing any of them rebuilds the backbones and an unchanged checkout (a second
# test run, a CI cache) reuses them.
_BUILDING_CODE = ("tiny_backbones.py", "tiny_vision_pretraining.py", "synthetic_scenes.py",
                  "languages/synthetic_words.py", "languages/registry.py", "languages/en.yaml", "languages/eu.yaml")
DEFAULT_CACHE = Path(os.environ.get("LIGHTNING_MLLM_CACHE", Path.home() / ".cache" / "lightning_mllm"))


def build_tokenizer(vocab_size: int | None = None, languages: tuple[str, ...] | list[str] = LANGUAGES
                    ) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on the synthetic sentences of ``languages`` (English and Basque by
    default) plus Llama-3's special tokens; byte-level, so any text (other languages too) still encodes.

    ``vocab_size`` defaults to 300 per language, a ceiling the corpus never reaches (English and
    Basque need 506 tokens, all five packaged languages 679): every synthetic word becomes one token,
    so adding a language leaves the others' token counts unchanged (BENCHMARKS.md, "Languages as data").
    """
    vocab_size = vocab_size or 300 * len(languages)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    # The role names are in the corpus so that chat headers tokenize into whole words.
    tokenizer.train_from_iterator(vocabulary_corpus(languages) + ["system", "user", "assistant"] * 50, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
        pad_token="<|finetune_right_pad_id|>", chat_template=LLAMA3_CHAT_TEMPLATE,
        model_max_length=2048)


def build_llm(tokenizer: PreTrainedTokenizerFast, hidden_size: int = 128, layers: int = 4) -> LlamaForCausalLM:
    """A small random Llama whose special-token ids match the tokenizer.

    Initialised with std 0.08 instead of Llama's 0.02 (about 1/sqrt(width)): at 0.02 the query
    and key projections start so small that attention stays uniform for hundreds of steps, and
    the demo spent them before it learnt to look up "the circle" among the image tokens
    (BENCHMARKS.md, "Demo").
    """
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|end_of_text|>")],
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, initializer_range=0.08)
    return LlamaForCausalLM(config)


def build_vision(image_size: int = 48, patch_size: int = 16, hidden_size: int = 192) -> CLIPVisionModel:
    """A small random CLIP vision transformer: (48 / 16)^2 = 9 patch tokens plus CLS.

    The three patch columns are the scenes' three slots, so each shape lies in one column. With
    the pretraining (``ensure_tiny_backbone`` runs ``tiny_vision_pretraining`` before saving) the
    demo learns as well from these 9 tokens as from 36 at 8 px patches, with shorter sequences
    (the 450-step demo: 74 s against 101 s; BENCHMARKS.md).
    """
    config = CLIPVisionConfig(hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                              num_hidden_layers=2, num_attention_heads=4, image_size=image_size,
                              patch_size=patch_size, projection_dim=hidden_size)
    model = CLIPVisionModel(config)
    # A trained CLIP has strong position embeddings; at the random init (std 0.02) they vanish
    # next to the patch content after the pre-LayerNorm, and the demo could not tell left from
    # right. Scaling them up to the content's size gives the frozen tower a usable sense of place.
    # Found by name: transformers versions nest the embeddings under different attributes.
    position = next(m for n, m in model.named_modules() if n.endswith("embeddings.position_embedding"))
    with torch.no_grad():
        position.weight.normal_(std=0.5)
    return model


def save_folder_once(target: Path, save) -> Path:
    """Runs ``save(folder)`` into a temporary sibling renamed to ``target``, unless ``target`` exists:
    a killed save never leaves a half-written folder that later runs would take as finished."""
    if target.is_dir():
        return target
    try:
        with atomic_folder(target) as staging:
            save(staging)
    except OSError:
        if not target.is_dir():  # another process won the race
            raise
    return target


def ensure_tiny_backbone(kind: str, cache_dir: str | os.PathLike | None = None, seed: int = 0,
                         languages: str | list[str] | tuple[str, ...] | None = None) -> str:
    """Builds and saves a tiny backbone (``llm`` or ``vision``) once; returns its folder.

    The LLM folder holds the tokenizer too, as Hugging Face LLM repositories do; the vision
    folder holds the image processor. ``languages`` (a list, or codes joined by "+" as in
    ``${tiny_backbone:llm,en+eu+gl}``) are the languages the LLM's tokenizer is trained on;
    English and Basque when unset.
    """
    root = Path(cache_dir) if cache_dir else DEFAULT_CACHE
    if isinstance(languages, str):
        languages = languages.split("+")
    languages = tuple(languages or LANGUAGES)
    if kind != "llm" and languages != LANGUAGES:
        raise ValueError(f"tiny backbone {kind!r} takes no languages (got {list(languages)}); only 'llm' does")
    if kind == "llm":
        def build(folder: Path) -> None:
            tokenizer = build_tokenizer(languages=languages)
            build_llm(tokenizer).save_pretrained(folder)
            tokenizer.save_pretrained(folder)
    elif kind == "vision":
        def build(folder: Path) -> None:
            model = build_vision()
            pretrain_on_scenes(model, seed=seed)
            model.save_pretrained(folder)
            size = model.config.image_size
            CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}
                               ).save_pretrained(folder)
    else:
        raise ValueError(f"unknown tiny backbone {kind!r}; expected 'llm' or 'vision'")

    def save(folder: Path) -> None:
        # Seeded for reproducible weights, inside a forked RNG so the caller's stream is untouched.
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            build(folder)

    if kind == "vision":
        return str(save_folder_once(root / f"tiny-vision-{code_key()}-seed{seed}", save))
    # The tokenizer's language files are hashed too; a non-default language set is in the name.
    named = "" if languages == LANGUAGES else "-" + "-".join(languages)
    return str(save_folder_once(root / f"tiny-llm{named}-{code_key(languages)}-seed{seed}", save))


def code_key(languages: tuple[str, ...] = ()) -> str:
    """A short hash of the code that builds the tiny backbones (see ``_BUILDING_CODE``) and of
    the files of ``languages``, whose words train the tokenizer."""
    digest = hashlib.sha256()
    for name in _BUILDING_CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    for code in languages:
        digest.update(language_file(code).read_bytes())
    return digest.hexdigest()[:12]
