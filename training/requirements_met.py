"""Exit 0 when every requirement in the given files, and everything those packages require in turn, is installed at
a version the specifiers allow; exit 1 otherwise. training/install.sh asks this first so that an installed machine does
not spend seconds in pip on every `npm test` (pip runs whenever anything is missing or at another version)."""

import importlib.metadata as md
import sys

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


def requirements(files: list[str]) -> list[Requirement]:
    out = []
    for f in files:
        for line in open(f, encoding="utf-8"):
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                out.append(Requirement(line))
    return out


def met(reqs: list[Requirement]) -> bool:
    seen: set[str] = set()
    todo = [(r, "") for r in reqs]
    while todo:
        r, extra = todo.pop()
        if r.marker and not r.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(r.name)
        try:
            dist = md.distribution(r.name)
        except md.PackageNotFoundError:
            return False
        if r.specifier and not r.specifier.contains(dist.version, prereleases=True):
            return False
        for extra_name in r.extras or [""]:
            key = f"{name}[{extra_name}]"
            if key in seen:
                continue
            seen.add(key)
            for spec in dist.requires or []:
                try:
                    todo.append((Requirement(spec), extra_name))
                except InvalidRequirement:
                    return False
    return True


if __name__ == "__main__":
    sys.exit(0 if met(requirements(sys.argv[1:])) else 1)
