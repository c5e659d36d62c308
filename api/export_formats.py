"""Rendering an export as CSV or JSON, each carrying its stamp so the file can be checked later.

CSV: the stamp and summary come first as `# key=value` comment lines, then a header row and
the rows. Cells a spreadsheet would run as a formula (starting with = + - @, unless a number)
get a leading apostrophe: a trade's instrument is typed by a broker and must not execute.
JSON: {"export", "stamp", "summary", "columns", "rows"}. Both also send the stamp as headers.
"""

from __future__ import annotations

import csv
import io
import json
import re
from enum import StrEnum
from typing import Any

from fastapi import Response

from settlement.views import Export, ExportStamp

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


def stamp_fields(stamp: ExportStamp) -> dict[str, Any]:
    return {
        "chain_id": stamp.chain_id,
        "block_number": stamp.block_number,
        "block_hash": stamp.block_hash,
        "journal_seq": stamp.journal_seq,
        "journal_head_hash": stamp.journal_head_hash,
        "taken_at": stamp.taken_at.isoformat(),
    }


def _cell(value: str) -> str:
    if value.startswith(FORMULA_START) and not NUMBER.match(value):
        return "'" + value
    return value


def render(export: Export, fmt: ExportFormat, name: str) -> Response:
    stamp = stamp_fields(export.stamp)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}-block{export.stamp.block_number}.{fmt.value}"',
        "X-Export-Block-Number": str(export.stamp.block_number),
        "X-Export-Block-Hash": export.stamp.block_hash,
        "X-Export-Journal-Head-Hash": export.stamp.journal_head_hash,
        "Cache-Control": "no-store",
    }
    if fmt is ExportFormat.JSON:
        body = {
            "export": export.kind,
            "stamp": stamp,
            "summary": export.summary,
            "columns": list(export.columns),
            "rows": export.rows,
        }
        return Response(json.dumps(body, indent=1), media_type="application/json", headers=headers)
    out = io.StringIO()
    out.write(f"# export={export.kind}\n")
    for key, value in [*stamp.items(), *export.summary.items()]:
        out.write(f"# {key}={value}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(export.columns)
    for row in export.rows:
        writer.writerow([_cell(row[column]) for column in export.columns])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
