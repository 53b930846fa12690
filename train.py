"""Training entry point: ``python train.py {fit,validate,test,predict} --config configs/...``."""

from lightning.pytorch import LightningDataModule
from lightning.pytorch.cli import LightningCLI

from lightning_mllm.config_resolvers import register_resolvers
from lightning_mllm.model import MultimodalLM


def cli_main(args: list[str] | None = None) -> LightningCLI:
    """Runs the LightningCLI; ``args`` lets tests drive the real CLI from Python."""
    register_resolvers()
    return LightningCLI(MultimodalLM, LightningDataModule, subclass_mode_data=True, args=args,
                        parser_kwargs={"parser_mode": "omegaconf"}, save_config_kwargs={"overwrite": True})


if __name__ == "__main__":
    cli_main()
