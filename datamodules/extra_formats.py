"""Input formats the shard writer takes besides its own: flat rows mapped by column
(``datamodules/row_conversations.py``) and img2dataset tars (``datamodules/img2dataset_source.py``).

Each maps a format name to the reader of one input file; both hand ``convert_row`` their records.
"""

from __future__ import annotations

from datamodules.img2dataset_source import read_img2dataset_records
from datamodules.row_conversations import convert_row, read_row_records

ROW_FORMATS = {"rows": read_row_records, "img2dataset": read_img2dataset_records}

__all__ = ["ROW_FORMATS", "convert_row"]
