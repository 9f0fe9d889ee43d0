"""The docs/ folder against the code: every docs file and section the code cites exists, every link resolves.

Code comments and docstrings cite the docs as ``docs/<file>.md "<section>"`` (also with a comma,
several sections joined by ``,`` or ``and``, a section name in parentheses, or one capitalised
word: ``docs/methods/dsdg.md, Losses``) and the preprocessing stages as ``docs/data.md, stage 4``.
A section exists when a heading of the file contains the cited text as a whole phrase (case and
backticks ignored); a stage exists when a heading of docs/data.md names ``Stage <n>``.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP_TOP = {"docs", "datasets", "work_dirs"}  # the docs themselves, and data / runs made locally
SCANNED_SUFFIXES = {".py", ".sh", ".yaml", ".yml"}

DOC_REF = re.compile(r"(?<![\w.-])docs/(?P<file>[\w./-]+?\.md)")
# What may follow a citation: closing backticks, a comma or an opening parenthesis, an optional
# "stage N" / "step N", then one or more quoted section names joined by "," or "and".
CITED_TAIL = re.compile(
    r'^(?:``)?\s*[,(]?\s*(?:(?:preprocessing\s+)?(?:stage|step)\s+(?P<stage>\d+)\s*)?'
    r'(?P<quoted>"[^"\n]+"(?:\s*(?:,|and)\s*"[^"\n]+")*)?')
BARE_SECTION = re.compile(r"^(?:``)?,\s*(?P<word>[A-Z][\w+-]*)\)")
QUOTED = re.compile(r'"([^"\n]+)"')
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def joined_lines(text: str) -> str:
    """Text with each line break (and a continuation line's comment marker) turned into one space."""
    return re.sub(r"[ \t]*\n[ \t]*(?:#[ \t]*)?", " ", text)


def citations(text: str) -> list[tuple[str, str | None, str | None]]:
    """``(file, section, stage)`` of every docs citation in ``text`` (``file`` relative to docs/)."""
    flat = joined_lines(text)
    found: list[tuple[str, str | None, str | None]] = []
    for ref in DOC_REF.finditer(flat):
        tail = flat[ref.end():ref.end() + 300]
        bare = BARE_SECTION.match(tail)
        if bare:
            found.append((ref["file"], bare["word"], None))
            continue
        m = CITED_TAIL.match(tail)
        sections = QUOTED.findall(m["quoted"]) if m["quoted"] else []
        if m["stage"]:
            found.append((ref["file"], None, m["stage"]))
        found += [(ref["file"], s, None) for s in sections]
        if not sections and not m["stage"]:
            found.append((ref["file"], None, None))
    return found


def project_files() -> list[Path]:
    """Code, scripts and configs of the repository: not docs/, hidden or cache folders, local data, or this file."""
    out = []
    for folder, subdirs, files in os.walk(ROOT):
        here = Path(folder)
        subdirs[:] = sorted(d for d in subdirs if not (d.startswith(".") or d == "__pycache__"
                                                      or (here == ROOT and d in SKIP_TOP)))
        out += [here / f for f in sorted(files) if Path(f).suffix in SCANNED_SUFFIXES]
    return [p for p in out if p != Path(__file__).resolve()]


@functools.lru_cache(maxsize=1)
def all_citations() -> list[tuple[str, str, str | None, str | None]]:
    """``(citing file, cited file, section, stage)`` over the whole repository."""
    out = []
    for path in project_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        out += [(str(path.relative_to(ROOT)), *c) for c in citations(text)]
    return out


def markdown_lines(path: Path) -> list[str]:
    """The lines of a markdown file outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def headings(path: Path) -> list[str]:
    """Heading texts of a markdown file, without ``#`` marks, backticks or emphasis."""
    out = []
    for line in markdown_lines(path):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            out.append(re.sub(r"[`*]", "", m.group(1)).strip())
    return out


def has_heading(path: Path, phrase: str) -> bool:
    """Whether a heading of ``path`` contains ``phrase`` as a whole phrase (case and backticks ignored)."""
    wanted = re.compile(r"(?<!\w)" + re.escape(re.sub(r"[`*]", "", phrase).strip().lower()) + r"(?!\w)")
    return any(wanted.search(h.lower()) for h in headings(path))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor GitHub gives the headings of ``path`` (repeated headings get ``-1``, ``-2``, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for h in headings(path):
        base = slug(h)
        n = seen.get(base, 0)
        out.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return out


def broken_links(docs_dir: Path) -> list[str]:
    """``file: target (why)`` for every relative link of the markdown files under ``docs_dir`` that does not resolve."""
    problems = []
    for md in sorted(docs_dir.rglob("*.md")):
        text = "\n".join(re.sub(r"`[^`]*`", "", line) for line in markdown_lines(md))
        for link in LINK.finditer(text):
            target = link["target"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path_part, _, anchor = target.partition("#")
            dest = (md.parent / path_part).resolve() if path_part else md
            where = f"{md.relative_to(docs_dir)}: {target}"
            if not dest.exists():
                problems.append(f"{where} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{where} (no heading with this anchor)")
    return problems


# ------------------------------------------------------------------------------------------------ tests
def test_citation_forms_are_all_read():
    text = '''
    """CDCN / DUM training losses (docs/methods/dum.md, "Contrast depth loss" and "DUM on CDCN").
    Spec: ``docs/metrics.md`` ("ISO/IEC 30107-3 as OULU-NPU uses it", "Other figures").
    """
    # Residual Spatial Gradient Block (docs/methods/fas_sgtd.md "RSGB").
    # one conv whose centre tap is W_c - theta * sum(W) (docs/methods/dum.md, "Central difference
    #     convolution"), folded.
    """DSDG losses (docs/methods/dsdg.md, Losses). Offline crops (docs/data.md, stage 4 "Cropping").
    Depth labels, docs/data.md, preprocessing step 3. See docs/architecture.md for the picture."""
    '''
    assert citations(text) == [
        ("methods/dum.md", "Contrast depth loss", None),
        ("methods/dum.md", "DUM on CDCN", None),
        ("metrics.md", "ISO/IEC 30107-3 as OULU-NPU uses it", None),
        ("metrics.md", "Other figures", None),
        ("methods/fas_sgtd.md", "RSGB", None),
        ("methods/dum.md", "Central difference convolution", None),
        ("methods/dsdg.md", "Losses", None),
        ("data.md", None, "4"),
        ("data.md", "Cropping", None),
        ("data.md", None, "3"),
        ("architecture.md", None, None),
    ]


def test_every_cited_docs_file_exists():
    cited = all_citations()
    # The scan reaches the code: the error guard cites its section of the architecture notes.
    assert ("fas_core/errors.py", "architecture.md", "Errors", None) in cited
    missing = sorted({f"{source} cites docs/{doc}" for source, doc, _, _ in cited if not (DOCS / doc).is_file()})
    assert not missing, "\n".join(missing)


def test_every_cited_section_is_a_heading():
    cited = all_citations()
    assert ("fas_core/task.py", "architecture.md", "The method interface", None) in cited
    missing = sorted({f'{source} cites docs/{doc} "{section}"' for source, doc, section, _ in cited
                      if section and (DOCS / doc).is_file() and not has_heading(DOCS / doc, section)})
    assert not missing, "\n".join(missing)


def test_every_cited_preprocessing_stage_has_its_heading():
    stages = {(source, stage) for source, doc, _, stage in all_citations() if stage}
    assert ("data/extract_frames.py", "1") in stages and ("data/crop.py", "4") in stages
    missing = sorted(f"{source} cites docs/data.md stage {n}" for source, n in stages
                     if not has_heading(DOCS / "data.md", f"Stage {n}"))
    assert not missing, "\n".join(missing)


def test_every_relative_link_in_docs_resolves():
    problems = broken_links(DOCS)
    assert not problems, "\n".join(problems)


def test_link_check_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# Title\n\n## Crop cache (`data.crop`)\n\n[ok](#crop-cache-datacrop) "
                                   "[gone](missing.md) [bad anchor](sub/b.md#nowhere) [ok too](sub/b.md#the-end)\n"
                                   "```\n[not a link](in_a_code_block.md)\n```\n`[nor](this.md)` [web](https://x.org)\n")
    (tmp_path / "sub" / "b.md").write_text("# The end\n\n[up](../a.md#title)\n")
    assert broken_links(tmp_path) == ["a.md: missing.md (no such file)",
                                      "a.md: sub/b.md#nowhere (no heading with this anchor)"]


def test_heading_match_is_a_whole_phrase(tmp_path):
    doc = tmp_path / "m.md"
    doc.write_text("# CDCN++\n\n## Contrast depth loss\n\n```\n## Not a heading\n```\n"
                   "### Cross-domain tasks (`mcio`)\n")
    assert has_heading(doc, "CDCN++") and has_heading(doc, "contrast depth loss") and has_heading(doc, "MCIO")
    assert not has_heading(doc, "CDC")  # a prefix of a word is not a section
    assert not has_heading(doc, "Not a heading")  # inside a code block


@pytest.mark.parametrize("name", sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")
                                        if p.name != "README.md"))
def test_docs_index_links_every_page(name):
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert f"]({name})" in index, f"docs/README.md does not link {name}"
