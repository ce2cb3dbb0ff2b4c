"""Render a report, a list of blocks, as Markdown and as one self-contained HTML file.

Blocks: ``("h1" | "h2" | "h3" | "p" | "answer", text)``, ``("code", text)``,
``("table", (header, rows))``, ``("figure", (path, caption))`` and
``("details", (summary, blocks))`` (folded in HTML, a titled section in Markdown).
The HTML embeds every figure (base64 PNG), loads nothing from the network, runs no
script, reads at phone width (figures scale; wide tables scroll inside their own box;
long unbroken words such as paths and commands wrap, so nothing makes the page wider than
the screen) and prints with its folded sections open.
"""

from __future__ import annotations

import base64
import html

CSS = """
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.45;max-width:64rem;margin:0 auto;
padding:0 1rem 3rem;color:#1a1a1a;overflow-wrap:break-word}
h1,h2,h3,p,pre,code,figcaption,summary{overflow-wrap:anywhere}
h1{font-size:1.6rem;margin-top:1.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}h3{margin-top:1.4rem}
p.answer{font-size:1.05rem;margin:.4rem 0}
img{max-width:100%;height:auto}
figure{margin:1rem 0;max-width:100%}figure img{display:block}
figcaption{font-size:.85rem;color:#555}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0}
td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top;text-align:left}
td.wrap{overflow-wrap:anywhere;min-width:14em}td.long{min-width:10em}
td.verdict{font-weight:bold}tr.fails{background:#fdd}
code,pre{font-size:.8rem;background:#f4f4f4}pre{padding:.5rem;overflow-x:auto;white-space:pre-wrap;max-width:100%}
details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}
@media print{details::details-content{content-visibility:visible;display:block}summary{list-style:none}
body{max-width:none}}
"""


def to_markdown(blocks) -> str:
    lines = []
    for kind, body in blocks:
        if kind in ("h1", "h2", "h3"):
            lines += [f"{'#' * int(kind[1])} {body}", ""]
        elif kind in ("p", "answer"):
            lines += [body, ""]
        elif kind == "code":
            lines += ["```", body, "```", ""]
        elif kind == "table":
            head, rows = body
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows] + [""]
        elif kind == "figure":
            path, caption = body
            lines += [f"![{caption}]({path.name})", "", f"*{caption}*", ""]
        elif kind == "details":
            summary, inner = body
            lines += [f"**{summary}**", "", to_markdown(inner)]
    return "\n".join(lines)


#: a table cell with a word (no space) longer than this many characters (a path, a command's
#: argument) may break anywhere, so that it cannot make its table wider than a phone
LONG_WORD = 30
#: a table cell with more text than this keeps a readable width (class ``long``) rather than
#: shrinking to its longest word when a phone squeezes the table (which then scrolls)
LONG_TEXT = 40


def _cell(head: str, text: str) -> str:
    """One ``<td>``: the verdict column bold; a cell with a long unbroken word wraps anywhere
    (class ``wrap``), one with long text keeps a minimum width (class ``long``); short cells
    keep whole numbers and names on one line."""
    classes = ["verdict"] if head == "verdict" else []
    if max(map(len, text.split()), default=0) > LONG_WORD:
        classes.append("wrap")
    elif len(text) > LONG_TEXT:
        classes.append("long")
    attr = f" class='{' '.join(classes)}'" if classes else ""
    return f"<td{attr}>{html.escape(text)}</td>"


def _html_blocks(blocks) -> list[str]:
    parts = []
    for kind, body in blocks:
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{html.escape(body)}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(body)}</p>")
        elif kind == "answer":
            parts.append(f"<p class='answer'>{html.escape(body)}</p>")
        elif kind == "code":
            parts.append(f"<pre><code>{html.escape(body)}</code></pre>")
        elif kind == "table":
            head, rows = body
            out = ["<div class='scroll'><table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
            for r in rows:
                cls = " class='fails'" if "verdict" in head and r[head.index("verdict")] == "FAILS" else ""
                out.append(f"<tr{cls}>" + "".join(_cell(h, c) for h, c in zip(head, r)) + "</tr>")
            parts.append("".join(out) + "</table></div>")
        elif kind == "figure":
            path, caption = body
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        elif kind == "details":
            summary, inner = body
            parts.append(f"<details><summary>{html.escape(summary)}</summary>{''.join(_html_blocks(inner))}</details>")
    return parts


def to_html(blocks, title: str) -> str:
    head = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>")
    return head + "\n".join(_html_blocks(blocks)) + "</body></html>\n"
