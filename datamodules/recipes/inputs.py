"""Where a recipe's files are: a path the user gives, or the local Hugging Face cache. Nothing is
downloaded here; a missing data set fails with the command that would fetch it."""

from __future__ import annotations

import glob
import os

from datamodules.column_rows import row_files
from datamodules.img2dataset_source import tar_files
from datamodules.recipes.catalog import Recipe


def hub_cache() -> str:
    """The Hugging Face hub cache folder, as ``huggingface_hub`` finds it."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return os.path.join(home, "hub")


def cached_snapshot(hf_id: str) -> str | None:
    """The newest cached snapshot folder of data set ``hf_id``, or None."""
    folder = os.path.join(hub_cache(), "datasets--" + hf_id.replace("/", "--"), "snapshots")
    snapshots = sorted(glob.glob(os.path.join(folder, "*")), key=os.path.getmtime)
    return snapshots[-1] if snapshots else None


def input_files(recipe: Recipe, path: str | None, hf_id: str | None, split: str | None) -> list[str]:
    """The files a recipe reads: under ``path`` when given, else from the cached ``hf_id``.

    Raises:
        FileNotFoundError: Nothing given and nothing cached; the message says how to fetch it.
    """
    if path is None:
        hf_id = hf_id or recipe.hf_id
        if hf_id is None:
            raise FileNotFoundError(f"recipe {recipe.name} has no Hugging Face id to look up: pass --input "
                                    f"(a file or folder) or --hf-id")
        path = cached_snapshot(hf_id)
        if path is None:
            raise FileNotFoundError(
                f"recipe {recipe.name}: {hf_id} is not in the Hugging Face cache {hub_cache()}; fetch it once with "
                f"`hf download {hf_id} --repo-type dataset` (or pass --input with a local copy)")
    if recipe.format == "img2dataset":
        return [path] if os.path.isfile(path) else tar_files(path)
    if recipe.format == "llava":
        if not os.path.isfile(path):
            raise FileNotFoundError(f"recipe {recipe.name}: --input must be LLaVA's chat.json, got {path}")
        return [path]
    return row_files(path, split)
