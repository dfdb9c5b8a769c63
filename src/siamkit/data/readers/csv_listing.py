"""A CSV listing: ``path,label`` columns, optional ``group`` and ``split`` (train/val/test).

Relative paths are relative to the CSV file's folder.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from siamkit.data.readers.base import READERS, DatasetReader
from siamkit.data.records import ImageRecord
from siamkit.errors import SiamkitError


@READERS.register("csv", priority=-20, description="a .csv file with path,label[,group,split] columns")
class CsvReader(DatasetReader):
    def detect(self, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() == ".csv"

    def records(self, path: Path) -> list[ImageRecord]:
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                return _read_rows(path, csv.DictReader(handle))
        except UnicodeDecodeError:
            raise SiamkitError(f"{path}: not a UTF-8 text CSV file") from None
        except csv.Error as exc:
            raise SiamkitError(f"{path}: malformed CSV ({exc})") from None


def _read_rows(csv_path: Path, reader: csv.DictReader) -> list[ImageRecord]:
    base = csv_path.parent
    columns = set(reader.fieldnames or [])
    if not {"path", "label"} <= columns:
        raise SiamkitError(f"{csv_path}: CSV needs 'path' and 'label' columns, found {sorted(columns)}")
    records = []
    first_row: dict[str, int] = {}  # image path -> the line that listed it first
    for row_number, row in enumerate(reader, start=2):
        if not row.get("path") or not row.get("label"):
            raise SiamkitError(f"{csv_path}: line {row_number} has an empty path or label")
        path = Path(row["path"])
        path = os.path.normpath(path if path.is_absolute() else base / path)
        split = (row.get("split") or "").strip().lower()
        if split not in ("", "train", "val", "test"):
            raise SiamkitError(f"{csv_path}: line {row_number}: split '{row['split']}' is not train, val or test")
        if path in first_row:
            _refuse_duplicate(csv_path, records[first_row[path] - 2], first_row[path], row, row_number)
        first_row[path] = row_number
        records.append(ImageRecord(path, row["label"], row.get("group") or "", split))
    return records


def _refuse_duplicate(csv_path: Path, first: ImageRecord, first_line: int, row: dict, line: int) -> None:
    """One image listed twice makes a positive pair of a file with itself (distance 0); under two
    labels it is one identity's picture in two identities, which a split can put apart."""
    if row["label"] == first.label:
        raise SiamkitError(f"{csv_path}: lines {first_line} and {line} list the same image {row['path']}; list each image once")
    raise SiamkitError(
        f"{csv_path}: lines {first_line} and {line} list the same image {row['path']} under two labels "
        f"('{first.label}' and '{row['label']}'); an image belongs to one identity"
    )
