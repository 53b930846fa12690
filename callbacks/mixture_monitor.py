"""Logs what the training mixture really delivered: samples and tokens per source and language,
the realised ratio next to the configured one, and tokens per word per language.

The ratio is set in samples, but the compute goes by tokens, and a Basque word costs more
Llama-3 tokens than an English one: tokens per word and the token share per language show how
far the token budget drifts from the configured sample ratio. ``mixture/passes/<source>`` shows
how often each source has been read through (1.5: every sample once and half of them twice), so
a small Basque source that repeats is seen.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

COLUMNS = ("samples", "tokens", "words", "text_tokens", "text_only")


class MixtureMonitor(L.Callback):
    """Counts every training batch by source and by language and logs, every
    ``log_every_n_steps`` optimizer steps, the totals over all ranks under ``mixture/``.

    Args:
        log_every_n_steps: Steps between logs (default: the trainer's ``log_every_n_steps``).
    """

    def __init__(self, log_every_n_steps: int | None = None) -> None:
        self.log_every_n_steps = log_every_n_steps
        self.sources: list[str] = []
        self.langs: list[str] = []
        self.by_source = torch.zeros(0, len(COLUMNS), dtype=torch.float64)
        self.by_lang = torch.zeros(0, len(COLUMNS), dtype=torch.float64)
        self.passes = torch.zeros(0, dtype=torch.float64)  # per source: the furthest pass progress seen
        self.configured: dict[str, float] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        if not hasattr(datamodule, "configured_shares"):
            raise TypeError("MixtureMonitor needs the MixtureDataModule (it reads the configured mixture)")
        self.configured = datamodule.configured_shares()
        # A fixed list of rows on every rank, so the sums over ranks line up (and every rank
        # runs the same collective); languages a record names on its own land in "other".
        sources = list(self.configured)
        langs = sorted({s.lang for s in datamodule.train_sources if s.lang}) + ["other"]
        if (sources, langs) != (self.sources, self.langs):
            self.by_source = self._carry(self.by_source, self.sources, sources)
            self.by_lang = self._carry(self.by_lang, self.langs, langs)
            self.passes = self._carry(self.passes[:, None], self.sources, sources)[:, 0]
            self.sources, self.langs = sources, langs
        if trainer.is_global_zero:
            metrics = {f"mixture/configured_share/{name}": p for name, p in self.configured.items()}
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=trainer.global_step)

    @staticmethod
    def _carry(table: torch.Tensor, old: list[str], new: list[str]) -> torch.Tensor:
        out = torch.zeros(len(new), table.shape[1], dtype=torch.float64)
        for i, name in enumerate(old):
            if name in new:
                out[new.index(name)] = table[i]
        return out

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: dict[str, Any], batch_idx: int) -> None:
        # One (rows, columns) table per batch, added to the per-source and per-language totals.
        columns = zip(batch["tokens"], batch["words"], batch["text_tokens"], batch["has_image"])
        rows = torch.tensor([[1.0, tokens, words, text, float(not image)] for tokens, words, text, image in columns],
                            dtype=torch.float64)
        known = [i for i, source in enumerate(batch["sources"]) if source in self.sources]
        rows_of = torch.tensor([self.sources.index(batch["sources"][i]) for i in known], dtype=torch.long)
        self.by_source.index_add_(0, rows_of, rows[known])
        passes = batch.get("passes")
        if passes is not None and known:
            progress = torch.tensor([float(passes[i]) for i in known], dtype=torch.float64)
            self.passes.scatter_reduce_(0, rows_of, progress, reduce="amax")
        other = len(self.langs) - 1  # languages a record names on its own
        self.by_lang.index_add_(0, torch.tensor([self.langs.index(lang) if lang in self.langs else other
                                                 for lang in batch["lang"]], dtype=torch.long), rows)
        every = self.log_every_n_steps or trainer.log_every_n_steps
        if trainer.global_step % every == 0:
            self._log(trainer)

    def _log(self, trainer: L.Trainer) -> None:
        by_source = trainer.strategy.reduce(self.by_source.to(trainer.strategy.root_device), reduce_op="sum").cpu()
        by_lang = trainer.strategy.reduce(self.by_lang.to(trainer.strategy.root_device), reduce_op="sum").cpu()
        # The furthest reader: passes are split over ranks and workers, which progress alike.
        passes = trainer.strategy.reduce(self.passes.to(trainer.strategy.root_device), reduce_op="max").cpu()
        if not trainer.is_global_zero:
            return
        metrics = {}
        samples, tokens = by_source[:, 0].sum().clamp(min=1), by_source[:, 1].sum().clamp(min=1)
        for name, row in zip(self.sources, by_source):
            metrics[f"mixture/share/{name}"] = float(row[0] / samples)
            metrics[f"mixture/token_share/{name}"] = float(row[1] / tokens)
            metrics[f"mixture/samples/{name}"] = float(row[0])
        for name, progress in zip(self.sources, passes):
            metrics[f"mixture/passes/{name}"] = float(progress)
        for lang, row in zip(self.langs, by_lang):
            if row[0] == 0:
                continue
            metrics[f"mixture/lang_share/{lang}"] = float(row[0] / samples)
            metrics[f"mixture/lang_token_share/{lang}"] = float(row[1] / tokens)
            metrics[f"mixture/tokens/{lang}"] = float(row[1])
            if row[2] > 0:
                metrics[f"mixture/tokens_per_word/{lang}"] = float(row[3] / row[2])
        metrics["mixture/text_only_share"] = float(by_source[:, 4].sum() / samples)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)

    def state_dict(self) -> dict[str, Any]:
        return {"sources": self.sources, "langs": self.langs, "by_source": self.by_source.tolist(),
                "by_lang": self.by_lang.tolist(), "passes": self.passes.tolist()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.sources, self.langs = list(state_dict["sources"]), list(state_dict["langs"])
        self.by_source = torch.tensor(state_dict["by_source"], dtype=torch.float64).reshape(-1, len(COLUMNS))
        self.by_lang = torch.tensor(state_dict["by_lang"], dtype=torch.float64).reshape(-1, len(COLUMNS))
        self.passes = torch.tensor(state_dict.get("passes", [0.0] * len(self.sources)), dtype=torch.float64)
