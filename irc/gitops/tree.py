"""Writing files into a commit's tree without a working copy: blobs and trees are built straight in
the cached repository's object store, so there is no checkout to keep in sync, nothing a symlink in
the repository could redirect, and "unchanged" is one comparison of tree ids.

`apply_files` walks each file's path down the existing tree. It refuses, before writing anything:
a symbolic link anywhere on the path (PathEscapesRepository: a checkout would follow it, possibly
out of the repository), an existing file or submodule where a directory is needed, and an existing
directory or submodule where the file goes (PathConflict). A file that already exists keeps its
mode (an executable stays executable); a new one is a regular 0644 file.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass

from dulwich.object_store import BaseObjectStore, tree_lookup_path
from dulwich.objects import S_IFGITLINK, Blob, ObjectID, Tree

from irc.gitops.errors import PathConflict, PathEscapesRepository
from irc.gitops.paths import Components, display

FILE_MODE = stat.S_IFREG | 0o644


@dataclass(frozen=True)
class Applied:
    tree: ObjectID
    """The new root tree; equal to the old one when nothing changed."""
    changed: tuple[str, ...]
    """The repository paths whose content changed (new files included), sorted."""


def apply_files(store: BaseObjectStore, root: ObjectID, files: Mapping[Components, bytes]) -> Applied:
    """Write `files` (repository path → content) into the tree `root`, storing new objects in
    `store`. Objects are added only for what changed."""
    changed: list[str] = []
    nested: dict[str, dict[Components, bytes]] = {}
    for path, content in files.items():
        nested.setdefault(path[0], {})[path[1:]] = content
    tree = _apply(store, _tree(store, root), (), nested, changed)
    return Applied(tree=tree.id, changed=tuple(sorted(changed)))


def _apply(
    store: BaseObjectStore,
    tree: Tree,
    at: Components,
    entries: dict[str, dict[Components, bytes]],
    changed: list[str],
) -> Tree:
    """`tree` (the directory `at`) with `entries` (name → {rest of path → content}) written in; the
    same object when nothing changed."""
    updated = Tree()
    for item in tree.items():
        updated.add(item.path, item.mode, item.sha)
    modified = False
    for name, below in sorted(entries.items()):
        key = name.encode()
        path = (*at, name)
        existing = tree[key] if key in tree else None  # noqa: SIM401 (Tree has no get)
        mode = existing[0] if existing else None
        if mode is not None and stat.S_ISLNK(mode):
            raise PathEscapesRepository(f"{display(path)!r} is a symbolic link in the repository")
        if () in below:  # a file goes here
            if mode is not None and (stat.S_ISDIR(mode) or mode == S_IFGITLINK):
                kind = "a submodule" if mode == S_IFGITLINK else "a directory"
                raise PathConflict(f"{display(path)!r} is {kind} in the repository, not a file")
            blob = Blob.from_string(below[()])
            if existing is None or existing[1] != blob.id:
                store.add_object(blob)
                updated.add(key, mode if mode is not None else FILE_MODE, blob.id)
                changed.append(display(path))
                modified = True
            continue
        if mode is not None and not stat.S_ISDIR(mode):
            kind = "a submodule" if mode == S_IFGITLINK else "a file"
            raise PathConflict(f"{display(path)!r} is {kind} in the repository, not a directory")
        subtree = _tree(store, existing[1]) if existing else Tree()
        grouped: dict[str, dict[Components, bytes]] = {}
        for rest, content in below.items():
            grouped.setdefault(rest[0], {})[rest[1:]] = content
        new = _apply(store, subtree, path, grouped, changed)
        if existing is None or new.id != existing[1]:
            updated.add(key, stat.S_IFDIR, new.id)
            modified = True
    if not modified:
        return tree
    store.add_object(updated)
    return updated


def _tree(store: BaseObjectStore, sha: ObjectID) -> Tree:
    obj = store[sha]
    if not isinstance(obj, Tree):
        raise TypeError(f"{sha.decode()} is a {obj.type_name.decode()}, not a tree")
    return obj


def read_file(store: BaseObjectStore, tree: ObjectID, name: str) -> bytes | None:
    """The content of the file `name` (a path in the repository) in `tree`; None when absent."""
    try:
        _, sha = tree_lookup_path(store.__getitem__, tree, name.encode())
    except KeyError:
        return None
    blob = store[sha]
    return blob.as_raw_string() if isinstance(blob, Blob) else None
