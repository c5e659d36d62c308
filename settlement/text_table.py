"""Aligned text tables for terminals (CLI, demo) and Markdown tables (benchmark results)."""

from __future__ import annotations

from collections.abc import Sequence


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] | None = None, *, markdown: bool = False
) -> str:
    """Columns padded to their widest cell; `right` holds the indexes of right-aligned columns.

    A left-aligned last column is not padded in plain text (it is usually free text, a detail)."""
    right = right or set()
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        if markdown:
            return "| " + " | ".join(padded) + " |"
        last = padded[-1] if len(cells) - 1 in right else cells[-1]
        return "  ".join([*padded[:-1], last])

    rule = ["-" * w for w in widths]
    if markdown:
        return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)])
    return "\n".join([line(headers), "  ".join(rule), *(line(r) for r in rows)])
