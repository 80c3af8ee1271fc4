"""Where files may be written: a repository directory (`RepoSpec.path`) and file paths relative to
it, checked before anything touches a repository, and branch names.

A path is a `/`-separated relative path. `.` components and repeated slashes are dropped
(`./applications` is `applications`); everything else that could land outside the directory, or
inside Git's own data, is refused with PathEscapesRepository and a reason: an absolute path, a `..`
component (even one that would resolve back inside), a `.git` component in any letter case, a
backslash (a separator on Windows checkouts), a NUL or newline. Symbolic links are checked against
the repository's tree when the files are written (irc.gitops.tree): a symlink on the way escapes too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from irc.gitops.errors import InvalidBranchName, PathConflict, PathEscapesRepository

Components = tuple[str, ...]


def split_directory(path: str) -> Components:
    """The components of the repository directory files go under; `""`, `.` and `./` are the root."""
    return _components(path, what="the repository path", allow_root=True)


def split_file(path: str) -> Components:
    """The components of one file path, relative to the repository directory."""
    return _components(path, what="file path", allow_root=False)


def _components(path: str, *, what: str, allow_root: bool) -> Components:
    shown = repr(path)
    if not isinstance(path, str):
        raise PathEscapesRepository(f"{what} {shown} is not text")
    if path.startswith("/"):
        raise PathEscapesRepository(f"{what} {shown} is absolute; paths are relative to the repository")
    if "\\" in path:
        raise PathEscapesRepository(f"{what} {shown} contains a backslash")
    if any(c in path for c in "\0\n\r"):
        raise PathEscapesRepository(f"{what} {shown} contains a NUL or newline character")
    if not allow_root and (path.endswith("/") or path.endswith("/.")):
        raise PathEscapesRepository(f"{what} {shown} names a directory, not a file")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise PathEscapesRepository(f"{what} {shown} contains '..'")
        if part.lower() == ".git":
            raise PathEscapesRepository(f"{what} {shown} points into the repository's .git directory")
        parts.append(part)
    if not parts and not allow_root:
        raise PathEscapesRepository(f"{what} {shown} is empty")
    return tuple(parts)


def plan_files(directory: str, files: Mapping[str, bytes]) -> dict[Components, bytes]:
    """Each file's full path in the repository (the directory's components, then the file's), all
    checked. Two names for one path must carry the same content; a path cannot be both a file and
    a directory of another file. Raises PathEscapesRepository or PathConflict."""
    base = split_directory(directory)
    planned: dict[Components, bytes] = {}
    shown: dict[Components, str] = {}
    for name, content in files.items():
        if not isinstance(content, bytes | bytearray | memoryview):
            raise TypeError(f"the content of {name!r} must be bytes, not {type(content).__name__}")
        full = base + split_file(name)
        data = bytes(content)
        if full in planned and planned[full] != data:
            raise PathConflict(f"{shown[full]!r} and {name!r} name the same file with different content")
        planned[full] = data
        shown.setdefault(full, name)
    for full in planned:
        for depth in range(len(base) + 1, len(full)):
            if full[:depth] in planned:
                raise PathConflict(
                    f"{shown[full[:depth]]!r} is a file, so {shown[full]!r} cannot be written under it"
                )
    return planned


# git check-ref-format, for one branch name (refs/heads/ is added by the writer).
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


def check_branch(name: str, *, what: str = "branch") -> str:
    """`name` if git accepts it as a branch name, else InvalidBranchName with the rule it breaks."""
    problem = None
    if not name:
        problem = "is empty"
    elif name.startswith("refs/"):
        problem = "must be a branch name, not a full ref (drop refs/heads/)"
    elif _BAD_REF.search(name):
        problem = "contains a space, control character, '..', '@{', '//' or one of ~^:?*[\\"
    elif name.startswith(("-", "/", ".")) or name.endswith(("/", ".", ".lock")) or name == "@":
        problem = "starts with '-', '/' or '.', ends with '/', '.' or '.lock', or is '@'"
    elif any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        problem = "has a component that starts with '.' or ends with '.lock'"
    if problem:
        raise InvalidBranchName(f"{what} {name!r} {problem}")
    return name


def display(components: Components) -> str:
    return "/".join(components)
