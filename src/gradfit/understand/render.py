"""Reports that render to the terminal, Markdown and self-contained HTML.

``explain``, ``diagnose`` and ``check_gradient`` build a :class:`Report` from
numbers they computed; this module only lays them out. Paragraphs use one piece
of inline markup, backticks for code, which the text renderer keeps, Markdown
understands and the HTML renderer turns into ``<code>`` (after escaping).
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Check", "Code", "Renderable", "Report", "Section", "Table", "fmt"]


def fmt(value: float, digits: int = 4) -> str:
    """Format a number with ``digits`` significant digits (``inf`` and ``nan`` as words).

    Examples
    --------
    >>> fmt(0.000123456), fmt(2051.44498), fmt(float("inf"))
    ('0.0001235', '2051', 'inf')
    """
    value = float(value)
    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


@dataclass(frozen=True)
class Check:
    """A claim verified on the user's data.

    ``measured`` must be at most ``tolerance`` (a discrepancy), or at least it when
    ``at_least`` is True (a threshold to clear, e.g. a growth factor).

    Examples
    --------
    >>> Check("sum equals matrix form", 3e-16, 1e-10).passed
    True
    >>> Check("the loss grew", 0.5, 1.0, at_least=True).line()
    '[FAILED] the loss grew: measured 0.5 (needs >= 1)'
    """

    claim: str
    measured: float
    tolerance: float
    at_least: bool = False

    @property
    def passed(self) -> bool:
        """Whether the measured value is on the right side of the tolerance."""
        if self.at_least:
            return bool(self.measured >= self.tolerance)
        return bool(self.measured <= self.tolerance)

    def line(self) -> str:
        """One line: verdict, claim, measured value and what it had to be."""
        verdict = "[ok]" if self.passed else "[FAILED]"
        bound = (
            f"needs >= {fmt(self.tolerance, 3)}"
            if self.at_least
            else f"tolerance {fmt(self.tolerance, 3)}"
        )
        return f"{verdict} {self.claim}: measured {fmt(self.measured, 3)} ({bound})"


@dataclass(frozen=True)
class Code:
    """A preformatted block (code or aligned output)."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of strings."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = str | Code | Table | Check


@dataclass(frozen=True)
class Section:
    """A heading and its blocks."""

    heading: str
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True)
class Report:
    """A titled sequence of sections.

    Examples
    --------
    >>> r = Report("Title", [Section("A", ("Use `x < y`.", Table(("a", "b"), (("1", "2"),))))])
    >>> print(r.to_markdown())
    # Title
    <BLANKLINE>
    ## A
    <BLANKLINE>
    Use `x < y`.
    <BLANKLINE>
    | a | b |
    |---|---|
    | 1 | 2 |
    <BLANKLINE>
    >>> "<code>x &lt; y</code>" in r.to_html()
    True
    """

    title: str
    sections: Sequence[Section] = field(default_factory=list)

    # -- text ------------------------------------------------------------------
    def to_text(self, width: int = 100) -> str:
        """Plain text for a terminal, paragraphs wrapped at ``width`` columns."""
        out = [self.title, "=" * min(width, len(self.title)), ""]
        for section in self.sections:
            out += [section.heading, "-" * min(width, len(section.heading)), ""]
            for block in section.blocks:
                out += _text_block(block, width)
                out.append("")
        return "\n".join(out)

    # -- markdown ----------------------------------------------------------------
    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown."""
        out = [f"# {self.title}", ""]
        for section in self.sections:
            out += [f"## {section.heading}", ""]
            for block in section.blocks:
                out += _markdown_block(block)
                out.append("")
        return "\n".join(out)

    # -- html --------------------------------------------------------------------
    def to_html(self) -> str:
        """A self-contained HTML page (inline style, no scripts, every string escaped)."""
        return (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + self.to_html_fragment()
            + "\n</body></html>\n"
        )

    def to_html_fragment(self, level: int = 1) -> str:
        """The body of :meth:`to_html`, to place inside another page.

        Parameters
        ----------
        level : int, default=1
            Heading level of the title (``<h1>``); sections are one level below.

        Examples
        --------
        >>> print(Report("T", [Section("A", ("x",))]).to_html_fragment(level=3))
        <h3>T</h3>
        <section><h4>A</h4>
        <p>x</p>
        </section>
        """
        if not 1 <= level <= 5:
            raise ValueError(f"level={level}: use 1 to 5")
        body = [f"<h{level}>{_inline_html(self.title)}</h{level}>"]
        sub = level + 1
        for section in self.sections:
            body.append(f"<section><h{sub}>{_inline_html(section.heading)}</h{sub}>")
            body += [_html_block(block) for block in section.blocks]
            body.append("</section>")
        return "\n".join(body)


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.45}pre{background:#f5f5f5;padding:.6rem;overflow-x:auto}"
    "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.2rem .5rem;"
    "text-align:right}th{background:#eee}.ok{color:#186a1d}.failed{color:#b00020;"
    "font-weight:bold}"
)


def _table_lines(table: Table) -> list[str]:
    widths = [len(h) for h in table.header]
    for row in table.rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(table.header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table.rows]
    return [line.rstrip() for line in lines]


def _text_block(block: Block, width: int) -> list[str]:
    if isinstance(block, Code):
        return ["    " + line for line in block.text.splitlines()]
    if isinstance(block, Table):
        return ["  " + line for line in _table_lines(block)]
    if isinstance(block, Check):
        return textwrap.wrap(block.line(), width, subsequent_indent="    ")
    return textwrap.wrap(block, width) or [""]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_block(block: Block) -> list[str]:
    if isinstance(block, Code):
        return ["```text", *block.text.splitlines(), "```"]
    if isinstance(block, Table):
        return [
            "| " + " | ".join(_md_cell(h) for h in block.header) + " |",
            "|" + "|".join("---" for _ in block.header) + "|",
            *("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows),
        ]
    if isinstance(block, Check):
        return [f"- {block.line()}"]
    return [block]


_BACKTICKS = re.compile(r"`([^`]+)`")


def _inline_html(text: str) -> str:
    return _BACKTICKS.sub(r"<code>\1</code>", html.escape(text))


def _html_block(block: Block) -> str:
    if isinstance(block, Code):
        return f"<pre>{html.escape(block.text)}</pre>"
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if isinstance(block, Check):
        css = "ok" if block.passed else "failed"
        return f"<p class='{css}'>{html.escape(block.line())}</p>"
    return f"<p>{_inline_html(block)}</p>"


class Renderable:
    """Mixin: ``to_text``, ``to_markdown`` and ``to_html`` of whatever ``report()`` builds."""

    def report(self) -> Report:
        """The object as a :class:`Report` (provided by the subclass)."""
        raise NotImplementedError

    def to_text(self, width: int = 100) -> str:
        """Plain text for a terminal."""
        return self.report().to_text(width)

    def to_markdown(self) -> str:
        """Markdown."""
        return self.report().to_markdown()

    def to_html(self) -> str:
        """Self-contained HTML."""
        return self.report().to_html()
