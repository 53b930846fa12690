"""One benchmark file being read: where it is, what its items share, and its column names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from lightning_mllm.evaluation.format_rows import Required, Row
from lightning_mllm.evaluation.items import BenchItem, BenchmarkFileError


@dataclass(frozen=True)
class Source:
    """One benchmark file and what every item read from it shares.

    Attributes:
        path: The benchmark file.
        benchmark: Benchmark name written into every item.
        lang: Language code written into every item.
        image_root: Folder that relative image paths start from (default: the file's folder).
        annotations: Second file of a two-file format (VQAv2's annotations JSON).
        columns: Our field -> the file's column, for the generic readers.
    """

    path: str
    benchmark: str
    lang: str
    image_root: str | None = None
    annotations: str | None = None
    columns: tuple[tuple[str, str], ...] = ()

    def column(self, field: str) -> str:
        """The file's column that holds ``field``."""
        return dict(self.columns).get(field, field)

    def file_keys(self, required: Required) -> list[str | tuple[str, ...]]:
        """``required`` (our field names) as the file's column names."""
        return [tuple(map(self.column, key)) if isinstance(key, tuple) else self.column(key) for key in required]

    def renamed(self, row: Row) -> Row:
        """``row`` with the mapped columns under our field names."""
        mapped = {column for field, column in self.columns if field != column}
        data = {key: value for key, value in row.data.items() if key not in mapped}
        data.update({field: row.data[column] for field, column in self.columns if column in row.data})
        return Row(row.where, row.number, data)

    @property
    def image_base(self) -> str:
        """Where relative image paths start: ``image_root``, else the benchmark file's folder."""
        return self.image_root or os.path.dirname(os.path.abspath(self.path))

    def item(self, row: Row, **fields: Any) -> BenchItem:
        """The item of ``row``; its own checks (kind, answer among options) name the row too."""
        try:
            return BenchItem(benchmark=self.benchmark, lang=self.lang, **fields)
        except ValueError as error:
            raise BenchmarkFileError(f"{row.where}: {error}") from error
