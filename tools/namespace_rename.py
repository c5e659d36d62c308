"""Moves `api` and `devnet` under the `settlement` namespace: `settlement.api`, `settlement.devnet`.

Run from the repository root: `python tools/namespace_rename.py` (idempotent: a second run
changes nothing). The folders stay where they are (api/, devnet/ at the top); the package sees
them through two committed symlinks, settlement/api -> ../api and settlement/devnet -> ../devnet,
which setuptools follows when it builds the wheel, so the wheel holds real files under
settlement/ and installs no generic top-level module.

It rewrites by pattern, not by a file list, so it works on files it has never seen:
- Python and Markdown: `from api... import` / `from devnet... import` (and `import api.x as y`);
- every text file: `-m api` / `-m devnet` invocations (Makefile, README, .ci/run, docstrings,
  CLI prog names), and in Python the list forms `"-m", "api"`;
- tests and tools: command lists handed to `python -m` (`["api", ...]`, `"devnet": [...]`) and
  dotted strings naming a real module under api/ or devnet/ (monkeypatch targets);
- pyproject (packages found under settlement only), the Makefile's mypy targets, the layer
  test's forbidden-import list, the README's layout note, and a test that nothing imports the
  old top-level names.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path.cwd()
MOVED = ("api", "devnet")
LINKS = {Path("settlement/api"): "../api", Path("settlement/devnet"): "../devnet"}
SKIP_DIRS = {
    ".git", ".venv", "node_modules", "contracts", "build", "dist", "data", ".settlement",
    "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", ".bench",
}  # fmt: skip
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".sh", ".yml", ".yaml", ".txt", ""}
NAMES = "|".join(MOVED)

FROM_IMPORT = re.compile(rf"^(\s*)from ({NAMES})((?:\.\w+)*) import ", re.MULTILINE)
IMPORT_AS = re.compile(rf"^(\s*)import ({NAMES})((?:\.\w+)*)(\s+as\s+\w+)", re.MULTILINE)
BARE_IMPORT = re.compile(rf"^\s*import ({NAMES})(?:\.\w+)*\s*$", re.MULTILINE)
DASH_M = re.compile(rf"(?<![\w-])(-m\s+)({NAMES})(?![\w/-])")
DASH_M_LIST = re.compile(rf"""(["'])-m\1(\s*,\s*)(["'])({NAMES})((?:\.\w+)*)\3""")
COMMAND_LIST = re.compile(rf"""(\[\s*)(["'])({NAMES})\2(?=\s*[,\]])""")
COMMAND_KEY = re.compile(rf"""^(\s*)(["'])({NAMES})\2(\s*:\s*\[)""", re.MULTILINE)
DOTTED = re.compile(rf"""(["'])({NAMES})\.(\w+)((?:\.\w+)*)\1""")

LAYOUT_ANCHOR = "One idea per module; the tree says where each concept lives."
LAYOUT_NOTE = """\
Everything importable lives under one namespace, `settlement`: the folders `api/` and
`devnet/` stay at the top of the tree, and the package reaches them as `settlement.api` and
`settlement.devnet` through two committed symlinks (`settlement/api -> ../api`,
`settlement/devnet -> ../devnet`). setuptools follows them when it builds the wheel, so an
installed wheel has real files under `settlement/` and no generic top-level `api` or `devnet`
module. Import and run them only by the namespaced names (`python -m settlement.api`,
`python -m settlement.devnet up`); `tests/unit/test_namespace.py` refuses the old ones.
`tools/namespace_rename.py` made this change and can be re-run (idempotent).
"""

NAMESPACE_TEST = '''\
"""Everything importable lives under `settlement`: nothing imports the old top-level names.

The folders api/ and devnet/ are reached as settlement.api and settlement.devnet through the
symlinks settlement/api and settlement/devnet (see the README's layout). Importing one module by
both names would load it twice, with two copies of its state.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OLD_NAMES = ("api", "devnet")


def _sources() -> list[Path]:
    found: list[Path] = []
    for folder in ("settlement", "api", "devnet", "tests", "tools"):
        found += sorted((ROOT / folder).rglob("*.py"))
    return found


@pytest.mark.parametrize("name", OLD_NAMES)
def test_the_namespace_links_point_at_the_folders(name: str) -> None:
    link = ROOT / "settlement" / name
    assert link.is_symlink() and link.resolve() == (ROOT / name).resolve()


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_imports_the_old_top_level_names(path: Path) -> None:
    offending: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            offending |= {a.name for a in node.names if a.name.split(".")[0] in OLD_NAMES}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            offending |= {node.module} if node.module.split(".")[0] in OLD_NAMES else set()
    assert not offending, f"{path.relative_to(ROOT)} imports {sorted(offending)}: use settlement.api / .devnet"
'''

LAYER_TEST = Path("tests/unit/test_layers.py")
LAYER_FORBIDDEN_OLD = '("tools", "devnet", "settlement.testing", "api")'
LAYER_FORBIDDEN_NEW = '("tools", "devnet", "api", "settlement.devnet", "settlement.testing", "settlement.api")'


def _files() -> Iterator[Path]:
    for folder, dirs, files in os.walk(ROOT):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs if d not in SKIP_DIRS and not (here / d).is_symlink() and not d.endswith(".egg-info")
        )
        for name in sorted(files):
            path = here / name
            if path.is_symlink() or (path.suffix not in TEXT_SUFFIXES and name != "Makefile"):
                continue
            if path.suffix == "" and name not in ("Makefile", "run"):
                continue
            yield path.relative_to(ROOT)


def _real_module(top: str, first: str) -> bool:
    return (ROOT / top / f"{first}.py").is_file() or (ROOT / top / first / "__init__.py").is_file()


def rewrite_python(text: str, path: Path) -> str:
    text = FROM_IMPORT.sub(r"\1from settlement.\2\3 import ", text)
    text = IMPORT_AS.sub(r"\1import settlement.\2\3\4", text)
    for bare in BARE_IMPORT.finditer(text):
        print(f"{path}: `{bare.group(0).strip()}` binds a top-level name: rewrite it by hand", file=sys.stderr)
    text = DASH_M_LIST.sub(r"\1-m\1\2\3settlement.\4\5\3", text)
    if path.parts[0] in ("tests", "tools"):
        text = COMMAND_LIST.sub(r"\1\2settlement.\3\2", text)
        text = COMMAND_KEY.sub(r"\1\2settlement.\3\2\4", text)

        def dotted(match: re.Match[str]) -> str:
            quote, top, first, rest = match.groups()
            return f"{quote}settlement.{top}.{first}{rest}{quote}" if _real_module(top, first) else match.group(0)

        text = DOTTED.sub(dotted, text)
    return text


def rewrite_text(text: str, path: Path) -> str:
    if path.suffix == ".py":
        text = rewrite_python(text, path)
    elif path.suffix == ".md":
        text = FROM_IMPORT.sub(r"\1from settlement.\2\3 import ", text)
    return DASH_M.sub(r"\1settlement.\2", text)


def rewrite_pyproject(text: str) -> str:
    return re.sub(
        r'^include = \["settlement\*"(?:, "(?:api|devnet)\*")*\]$',
        'include = ["settlement", "settlement.*"]  # api/ and devnet/ via the settlement/api, settlement/devnet links',
        text,
        flags=re.MULTILINE,
    )


def rewrite_makefile(text: str) -> str:
    return re.sub(r"^(\t\S*mypy\b.*?) api devnet\b", r"\1", text, flags=re.MULTILINE)


def rewrite_readme(text: str) -> str:
    if LAYOUT_NOTE.splitlines()[0] in text or LAYOUT_ANCHOR not in text:
        return text
    return text.replace(LAYOUT_ANCHOR, f"{LAYOUT_ANCHOR}\n\n{LAYOUT_NOTE.rstrip()}", 1)


SPECIAL: dict[str, Callable[[str], str]] = {
    "pyproject.toml": rewrite_pyproject,
    "Makefile": rewrite_makefile,
    "README.md": rewrite_readme,
    str(LAYER_TEST): lambda text: text.replace(LAYER_FORBIDDEN_OLD, LAYER_FORBIDDEN_NEW),
}


def main() -> int:
    if not all((ROOT / name / "__init__.py").is_file() for name in ("settlement", *MOVED)):
        print("run from the repository root (settlement/, api/ and devnet/ must be here)", file=sys.stderr)
        return 2
    changed: list[str] = []
    for link, target in LINKS.items():
        path = ROOT / link
        if path.is_symlink() and os.readlink(path) == target:
            continue
        if path.exists() or path.is_symlink():
            print(f"{link} exists and is not the symlink -> {target}: move it away first", file=sys.stderr)
            return 2
        path.symlink_to(target, target_is_directory=True)
        changed.append(f"{link} -> {target}")
    for relative in _files():
        path = ROOT / relative
        if relative == Path("tools/namespace_rename.py"):
            continue
        try:
            original = path.read_text()
        except UnicodeDecodeError:
            continue
        text = rewrite_text(original, relative)
        special = SPECIAL.get(str(relative))
        if special is not None:
            text = special(text)
        if text != original:
            path.write_text(text)
            changed.append(str(relative))
    test = ROOT / "tests" / "unit" / "test_namespace.py"
    if not test.exists() or test.read_text() != NAMESPACE_TEST:
        test.write_text(NAMESPACE_TEST)
        changed.append(str(test.relative_to(ROOT)))
    print(f"{len(changed)} change(s)" + "".join(f"\n  {c}" for c in changed))
    _tidy(
        [
            str(p)
            for p in _files()
            if p.suffix == ".py" and re.search(r"settlement\.(api|devnet)\b", (ROOT / p).read_text())
        ]
    )
    return 0


def _tidy(python_files: list[str]) -> None:
    """Re-sort the rewritten imports (settlement.api now sorts among settlement.*) and re-wrap
    lines the longer names pushed past the limit, with the project's own ruff. Every file using
    the new names, each run, so an interrupted run is finished by the next."""
    ruff = ROOT / ".venv" / "bin" / "ruff"
    command = str(ruff) if ruff.exists() else shutil.which("ruff")
    if not python_files:
        return
    if command is None:
        print("ruff not found: run `ruff check --select I --fix . && ruff format .` yourself", file=sys.stderr)
        return
    subprocess.run([command, "check", "--select", "I", "--fix", "--quiet", *python_files], check=False)
    subprocess.run([command, "format", "--quiet", *python_files], check=False)


if __name__ == "__main__":
    sys.exit(main())
