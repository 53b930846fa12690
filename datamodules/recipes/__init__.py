"""The paper's published data sets to shards (training) or benchmark files (evaluation), one
command each:

    python -m datamodules.recipes list
    python -m datamodules.recipes prepare pixmo-ama-eu --out $MLLM_DATA --fetch-images

Recipes read the local Hugging Face cache or a folder given with ``--input``; nothing is
downloaded except image URLs, and only with ``--fetch-images``.
"""

from datamodules.recipes.catalog import RECIPES, Recipe, recipe

__all__ = ["RECIPES", "Recipe", "recipe"]
