"""The translator LLM behind one call: ``generate(conversations) -> replies``, greedy decoding.

Two back ends: Hugging Face transformers (any machine; batched with left padding) and vLLM (much
faster for a 70B model on several GPUs, used when it is installed). Both render each conversation
with the model's own chat template and never run code from the model's repository
(``trust_remote_code`` stays off).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol

from lightning_mllm.text_generation import TransformersEngine, left_padded, placement

__all__ = ["ENGINES", "Engine", "LazyEngine", "TransformersEngine", "VLLMEngine", "left_padded", "make_engine",
           "placement", "vllm_available"]

ENGINES = ("auto", "transformers", "vllm")
Conversation = list[dict[str, str]]


class Engine(Protocol):
    """What the runner needs from a translator."""

    def generate(self, conversations: list[Conversation]) -> list[str]:
        """The greedy reply to each conversation, in order."""
        ...


class VLLMEngine:
    """Generates with vLLM's offline ``LLM.chat``, tensor-parallel over ``tensor_parallel`` GPUs.

    Args:
        model: Hugging Face id or folder of an instruction-tuned causal LM with a chat template.
        dtype: ``bfloat16``, ``float16`` or ``float32``.
        tensor_parallel: GPUs the model is split over (``tensor_parallel_size``).
        max_new_tokens: Longest reply.
    """

    def __init__(self, model: str, dtype: str = "bfloat16", tensor_parallel: int = 1, max_new_tokens: int = 1024):
        vllm = importlib.import_module("vllm")  # optional dependency, never required by the tests
        self.llm = vllm.LLM(model=model, tensor_parallel_size=tensor_parallel, dtype=dtype, trust_remote_code=False)
        self.sampling = vllm.SamplingParams(temperature=0, max_tokens=max_new_tokens)

    def generate(self, conversations: list[Conversation]) -> list[str]:
        """The greedy reply to each conversation; vLLM schedules the batch itself."""
        if not conversations:
            return []
        outputs = self.llm.chat(conversations, sampling_params=self.sampling, use_tqdm=False)
        return [output.outputs[0].text for output in outputs]


class LazyEngine:
    """Builds its engine on the first ``generate`` call, so a run with nothing left to do loads no model.

    Args:
        build: Returns the engine (e.g. a ``make_engine`` call).
    """

    def __init__(self, build: Callable[[], Engine]):
        self.build = build
        self.engine: Engine | None = None

    def generate(self, conversations: list[Conversation]) -> list[str]:
        """The wrapped engine's replies; the engine is built first if needed."""
        if self.engine is None:
            self.engine = self.build()
        return self.engine.generate(conversations)


def vllm_available() -> bool:
    """Whether ``import vllm`` succeeds."""
    try:
        importlib.import_module("vllm")
    except ImportError:
        return False
    return True


def make_engine(engine: str, model: str, dtype: str = "bfloat16", device: str = "auto",
                tensor_parallel: int = 1, max_new_tokens: int = 1024) -> Engine:
    """The chosen back end: ``auto`` is vLLM when it imports and the device is not the CPU.

    Raises:
        ValueError: An unknown engine name, or ``vllm`` asked for but not installed.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if engine == "auto":
        engine = "vllm" if device != "cpu" and vllm_available() else "transformers"
    if engine == "vllm":
        if not vllm_available():
            raise ValueError("--engine vllm: vllm is not installed (pip install vllm), or use --engine transformers")
        return VLLMEngine(model, dtype, tensor_parallel, max_new_tokens)
    return TransformersEngine(model, dtype, device, max_new_tokens)
