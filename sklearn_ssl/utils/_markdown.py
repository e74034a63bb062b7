"""Markdown and HTML rendering of the reports: GitHub-flavoured Markdown tables, and the small
Markdown subset that the demo report writes, as one self-contained HTML page (no extra dependency)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["markdown_table"]


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (no extra dependency)."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else format(float(v), floatfmt)
        return str(v).replace("|", "\\|")

    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)



def _html_table(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """``frame`` as an HTML table: one ``<th>`` per column, one ``<tr>`` of ``<td>`` per row."""
    import html

    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else format(float(v), floatfmt)
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def markdown_to_html(lines, title) -> str:
    """The tiny Markdown subset written by :func:`sklearn_ssl.demo._report.write_report`, as self-contained HTML.

    ``lines`` holds text lines and DataFrames; a DataFrame becomes an HTML table
    (:func:`_html_table`), never a Markdown table to re-parse.
    """
    import html
    import re

    lines = [part for x in lines for part in ([x] if isinstance(x, pd.DataFrame) else str(x).split("\n"))]

    def inline(text):
        text = html.escape(text, quote=False)
        text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", text)

    body, i = [], 0
    while i < len(lines):
        line = lines[i]
        if isinstance(line, pd.DataFrame):
            body.append(_html_table(line))
            i += 1
            continue
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            body.append("<pre>" + html.escape("\n".join(lines[i + 1:j])) + "</pre>")
            i = j + 1
            continue
        m = re.match(r"!\[(.*)\]\((.*)\)", line)
        if line.startswith("# "):
            body.append(f"<h1>{inline(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{inline(line[3:])}</h2>")
        elif line.startswith("- "):
            body.append(f"<ul><li>{inline(line[2:])}</li></ul>")
        elif m:
            body.append(f'<p><img src="{html.escape(m.group(2))}" alt="{html.escape(m.group(1))}"></p>')
        elif line.strip():
            body.append(f"<p>{inline(line)}</p>")
        i += 1
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;"
             "padding:.25em .6em;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
             "img{max-width:100%}pre{background:#f6f6f6;padding:.8em;overflow-x:auto}"
             "code{background:#f3f3f3;padding:0 .2em}ul{margin:.2em 0}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
