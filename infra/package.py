"""Build the zip that `az functionapp deployment source config-zip --build-remote true`
publishes: every file under the repository root that `.funcignore` lets through, the
same file `func azure functionapp publish` reads. Standard library only.

    python3 infra/package.py calbridge.zip
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE_FILE = ".funcignore"


@dataclass(frozen=True)
class IgnoreRule:
    """One `.funcignore` line in .gitignore syntax."""

    pattern: re.Pattern[str]
    negated: bool
    directories_only: bool

    @classmethod
    def parse(cls, line: str) -> IgnoreRule | None:
        text = line.rstrip("\n").rstrip()
        if not text or text.startswith("#"):
            return None
        negated = text.startswith("!")
        text = text[1:] if negated else text
        directories_only = text.endswith("/")
        text = text.rstrip("/")
        # A slash at the start or in the middle anchors the pattern at the root; without
        # one it matches a name at any depth.
        anchored = "/" in text
        body = _glob_to_regex(text.lstrip("/"))
        prefix = "^" if anchored else "^(?:.*/)?"
        return cls(re.compile(prefix + body + "$"), negated, directories_only)

    def matches(self, relative: str, is_dir: bool) -> bool:
        return (is_dir or not self.directories_only) and bool(self.pattern.match(relative))


def _glob_to_regex(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 1:]:
            end = glob.index("]", i + 1)
            out.append("[" + glob[i + 1:end].replace("!", "^", 1) + "]")
            i = end + 1
        elif glob[i] == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def read_rules(root: Path) -> list[IgnoreRule]:
    """The rules of `root/.funcignore`; without that file nothing would be left out, so
    its absence is an error rather than a package of everything."""
    lines = (root / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
    return [rule for rule in map(IgnoreRule.parse, lines) if rule is not None]


def ignored(rules: list[IgnoreRule], relative: str, is_dir: bool) -> bool:
    """The last rule that matches decides, as in .gitignore."""
    verdict = False
    for rule in rules:
        if rule.matches(relative, is_dir):
            verdict = not rule.negated
    return verdict


def package_files(root: Path) -> list[str]:
    """Paths (relative, with `/`) of the files a publish uploads, sorted. A folder left
    out is not entered, so nothing beneath it can come back in (as in .gitignore)."""
    rules = read_rules(root)
    found: list[str] = []
    for current, dirs, files in os.walk(root):
        base = Path(current).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        dirs[:] = [d for d in dirs if not ignored(rules, prefix + d, is_dir=True)]
        found += [prefix + f for f in files if not ignored(rules, prefix + f, is_dir=False)]
    return sorted(found)


def build(root: Path, target: Path) -> list[str]:
    """Write the package to `target`; returns the paths it holds."""
    names = package_files(root)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(root / name, name)
    return names


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "calbridge.zip").resolve()
    names = build(ROOT, target)
    print(f"{target}: {len(names)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
