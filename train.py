"""Training entry point: ``python train.py {fit,validate,test,predict} --config configs/...``.

The model is the project's ``lightning_mllm.MultimodalLM`` unless a config names another class
(``model: {class_path: lightning_mllm.PretrainedVLM, init_args: {...}}`` adapts an existing VLM).
"""

from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI

from lightning_mllm.config_resolvers import register_resolvers


# Every run's monitors and its atomic checkpoint writer, said once here rather than in each config.
# A config adds to them with ``callbacks+:`` (the paper's stage files add their global batch) and
# replaces them with ``callbacks:``.
DEFAULT_CALLBACKS = [
    {"class_path": "lightning.pytorch.callbacks.LearningRateMonitor", "init_args": {"logging_interval": "step"}},
    {"class_path": "callbacks.SkippedSampleMonitor"},
    {"class_path": "callbacks.MixtureMonitor"},
    {"class_path": "callbacks.RNGState"},
]
DEFAULT_PLUGINS = [{"class_path": "lightning_mllm.checkpoint_io.AtomicCheckpointIO"}]


class _CLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        # A default class keeps configs without class_path (model: {llm: ...}) meaning MultimodalLM.
        parser.set_defaults({"model": {"class_path": "lightning_mllm.MultimodalLM"},
                             "trainer.callbacks": DEFAULT_CALLBACKS, "trainer.plugins": DEFAULT_PLUGINS})


def cli_main(args: list[str] | None = None) -> LightningCLI:
    """Runs the LightningCLI; ``args`` lets tests drive the real CLI from Python."""
    register_resolvers()
    return _CLI(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True, args=args,
                parser_kwargs={"parser_mode": "omegaconf"}, save_config_kwargs={"overwrite": True})


if __name__ == "__main__":
    cli_main()
