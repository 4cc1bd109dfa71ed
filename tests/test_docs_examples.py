"""The examples stay true: every ``gradfit …`` command line of README.md, docs/cli.md and the
``--help`` epilogs runs against the bundled datasets, the output shown after a ``$ gradfit``
line is what the command prints now, and the README's quick start prints what it says."""

from __future__ import annotations

import ast
import re
import shlex
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_linnerud

from gradfit.cli.main import _parser, main

ROOT = Path(__file__).resolve().parents[1]

#: Files the examples name that the bundled datasets cannot stand for (placeholders, a
#: damaged model, a large file, the messy-table example whose rows tests/test_tables.py
#: builds and checks against scikit-learn): a command naming one is not run.
NOT_BUNDLED = {
    "big.parquet",
    "broken.gfm",
    "data.npy",
    "DATA",
    "new.csv",
    "insurance.csv",
    "new_region.csv",
}


def workspace(folder: Path) -> Path:
    diabetes = load_diabetes(as_frame=True, scaled=False).frame.rename(
        columns={"target": "progression"}
    )
    diabetes.to_csv(folder / "diabetes.csv", index=False)
    new = diabetes.drop(columns=["progression"]).head(25)
    new.insert(0, "patient_id", [f"p{i:03d}" for i in range(len(new))])
    new.to_csv(folder / "new_patients.csv", index=False)
    linnerud = load_linnerud(as_frame=True).frame
    linnerud.to_csv(folder / "linnerud.csv", index=False)
    linnerud.to_parquet(folder / "linnerud.parquet")
    (folder / "mygrad.py").write_text(
        "def gradient(X, y, w):\n    return X.T @ (X @ w - y) / len(X)\n", encoding="utf-8"
    )
    return folder


def blocks(path: Path) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced code block, and indented blocks as ``sh``."""
    text = path.read_text(encoding="utf-8")
    found = [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]
    for m in re.finditer(r"(?:\n\n)((?:    \S.*\n)+)", re.sub(r"```.*?```", "", text, flags=re.S)):
        found.append(("sh", textwrap.dedent(m.group(1))))
    return found


def command(line: str) -> list[str]:
    line = re.sub(r"\s+#.*$", "", line.strip())
    return shlex.split(line)[1:]  # without the leading "gradfit"


def examples() -> list[tuple[str, list[str], list[str] | None]]:
    """``(where, argv, expected output lines or None)`` in the order a reader meets them."""
    out: list[tuple[str, list[str], list[str] | None]] = []
    for name in ("README.md", "docs/cli.md"):
        for language, body in blocks(ROOT / name):
            lines = body.splitlines()
            if language == "sh":
                out += [(name, command(x), None) for x in lines if x.startswith("gradfit ")]
            elif language == "text":
                starts = [i for i, x in enumerate(lines) if x.startswith("$ gradfit ")]
                for k, i in enumerate(starts):
                    end = starts[k + 1] if k + 1 < len(starts) else len(lines)
                    out.append((name, command(lines[i][2:]), lines[i + 1 : end]))
    parser = _parser()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for sub_name, sub in action.choices.items():
            for line in (sub.epilog or "").splitlines():
                text = line.split("example:", 1)[-1].strip()
                if text.startswith("gradfit "):
                    out.append((f"gradfit {sub_name} --help", command(text), None))
    return out


def normalise(line: str) -> str:
    """Times, sizes and rounding-level numbers (below 1e-9, which vary with the BLAS) as words."""
    line = re.sub(r"\b\d+(?:\.\d+)?e-(?:\d{3}|[1-9]\d)\b", "<rounding>", line)
    line = re.sub(r"\b\d+(?:\.\d+)?s\b", "<seconds>", line)
    line = re.sub(r"\(\d+(?:\.\d+)? [kMG]?B\)", "(<size>)", line)
    return line.rstrip()


def shown_in(expected: str, actual: list[str]) -> bool:
    """The line is printed (a ``…`` in it stands for any text)."""
    pieces = [p.strip() for p in normalise(expected).split("…")]
    for line in actual:
        at = 0
        for piece in pieces:
            at = line.find(piece, at)
            if at < 0:
                break
            at += len(piece)
        else:
            return True
    return False


@pytest.mark.slow
def test_every_documented_command_runs_and_prints_what_the_docs_show(
    tmp_path, monkeypatch, capsys
) -> None:
    folder = workspace(tmp_path)
    monkeypatch.chdir(folder)
    ran, skipped = [], []
    for where, argv, expected in examples():
        files = {a for a in argv if "." in a or a == "DATA"}
        if files & NOT_BUNDLED or argv[:1] == ["demo"]:
            skipped.append((where, argv))
            continue
        status = main(argv)
        captured = capsys.readouterr()
        actual = [normalise(x) for x in (captured.out + captured.err).splitlines()]
        wanted = 2 if expected and any("error:" in x for x in expected) else 0
        assert status == wanted, f"{where}: gradfit {shlex.join(argv)} exited {status}\n{captured}"
        for line in expected or []:
            if line.strip() in ("", "…"):
                continue
            assert shown_in(line, actual), (
                f"{where}: `gradfit {shlex.join(argv)}` no longer prints\n  {line}\n"
                "it prints:\n" + "\n".join(actual)
            )
        ran.append(argv)
    assert len(ran) >= 20, ran
    assert {tuple(a[:1]) for a in ran} >= {
        ("fit",),
        ("predict",),
        ("report",),
        ("sweep",),
        ("explain",),
        ("diagnose",),
        ("check-gradient",),
    }
    assert all(
        argv[:1] == ["demo"] or {a for a in argv if "." in a or a == "DATA"} & NOT_BUNDLED
        for _, argv in skipped
    )


def test_readme_quick_start_prints_what_it_says() -> None:
    """Each line ``expression  # 'value'`` of the quick start: the expression gives the value."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1]
    code = re.search(r"```python\n(.*?)```", quick, re.S)
    assert code
    namespace: dict[str, object] = {}
    checked = 0
    statement = ""
    for line in code.group(1).splitlines():
        source, _, comment = line.partition("#")
        statement += source + "\n"
        try:
            ast.parse(statement)
        except SyntaxError:
            continue  # a statement over several lines
        body = statement.strip()
        statement = ""
        try:
            claimed = ast.literal_eval(comment.strip())
        except (ValueError, SyntaxError):
            claimed = None
        if claimed is None or not body or "=" in body.split("(")[0]:
            exec(body, namespace)
            continue
        value = eval(body, namespace)
        assert value == claimed, f"README quick start: {body} is {value!r}, it says {claimed!r}"
        checked += 1
    assert checked >= 1
    model = namespace["model"]
    assert np.asarray(model.coef_).shape == (2, 5) and np.asarray(model.intercept_).shape == (2,)


def test_every_option_a_help_text_names_exists() -> None:
    """``report --help`` once named a ``--json`` that ``report`` lacks."""
    parser = _parser()
    top = {o for a in parser._actions for o in a.option_strings}
    (subparsers,) = parser._subparsers._group_actions  # type: ignore[union-attr]
    options = {
        name: {o for a in sub._actions for o in a.option_strings} | top
        for name, sub in subparsers.choices.items()
    }
    for name, sub in subparsers.choices.items():
        text = " ".join(sub.format_help().split())
        # "--x" is this command's option; "predict --x" is another command's
        for other, option in re.findall(r"(?:\b([a-z-]+) )?(?<![\w-])(--[a-z][a-z-]*)", text):
            known = option in options[name] or option in options.get(other, ())
            assert known, f"gradfit {name} --help names {option}, which it lacks"
