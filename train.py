"""Training entry point: ``python train.py {fit,validate,test,predict} --config configs/...``.

The model is the project's ``lightning_mllm.MultimodalLM`` unless a config names another class
(``model: {class_path: lightning_mllm.PretrainedVLM, init_args: {...}}`` adapts an existing VLM).
"""

from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI

from lightning_mllm.config_resolvers import register_resolvers


class _CLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        # A default class keeps configs without class_path (model: {llm: ...}) meaning MultimodalLM.
        parser.set_defaults({"model": {"class_path": "lightning_mllm.MultimodalLM"}})


def cli_main(args: list[str] | None = None) -> LightningCLI:
    """Runs the LightningCLI; ``args`` lets tests drive the real CLI from Python."""
    register_resolvers()
    return _CLI(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True, args=args,
                parser_kwargs={"parser_mode": "omegaconf"}, save_config_kwargs={"overwrite": True})


if __name__ == "__main__":
    cli_main()
