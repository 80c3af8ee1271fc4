"""irc.gitops.tree: files written into a tree in the object store; unchanged content keeps the tree
id; symlinks on the way and file/directory clashes are refused before anything is written."""

from __future__ import annotations

import stat

import pytest
from dulwich.object_store import MemoryObjectStore
from dulwich.objects import S_IFGITLINK, Blob, ObjectID, Tree

from irc.gitops import PathConflict, PathEscapesRepository
from irc.gitops.tree import apply_files


def _store(entries: dict[str, tuple[int, bytes]]) -> tuple[MemoryObjectStore, ObjectID]:
    """A store with one tree of `entries` (path → (mode, content)), nested as the paths say."""
    store = MemoryObjectStore()
    planned = {}
    for path, (mode, content) in entries.items():
        blob = Blob.from_string(content)
        store.add_object(blob)
        planned[path] = (mode, blob.id)

    def build(prefix: str) -> ObjectID:
        tree = Tree()
        children = {p[len(prefix) :].split("/", 1)[0] for p in planned if p.startswith(prefix)}
        for name in children:
            full = prefix + name
            if full in planned:
                tree.add(name.encode(), *planned[full])
            else:
                tree.add(name.encode(), stat.S_IFDIR, build(full + "/"))
        store.add_object(tree)
        return tree.id

    return store, build("")


def _read(store: MemoryObjectStore, root: ObjectID) -> dict[str, tuple[int, bytes]]:
    out = {}
    for entry in store.iter_tree_contents(root):
        assert entry.path is not None and entry.sha is not None and entry.mode is not None
        blob = store[entry.sha]
        assert isinstance(blob, Blob)
        out[entry.path.decode()] = (entry.mode, blob.as_raw_string())
    return out


REG, EXE = stat.S_IFREG | 0o644, stat.S_IFREG | 0o755


def test_new_and_changed_files() -> None:
    store, root = _store({"README.md": (REG, b"r"), "apps/web.yaml": (REG, b"old"), "run.sh": (EXE, b"#!")})
    applied = apply_files(
        store,
        root,
        {("apps", "web.yaml"): b"new", ("apps", "api", "deploy.yaml"): b"d", ("run.sh",): b"#!/bin/sh"},
    )
    assert applied.changed == ("apps/api/deploy.yaml", "apps/web.yaml", "run.sh")
    assert _read(store, applied.tree) == {
        "README.md": (REG, b"r"),
        "apps/web.yaml": (REG, b"new"),
        "apps/api/deploy.yaml": (REG, b"d"),
        "run.sh": (EXE, b"#!/bin/sh"),  # an executable stays executable
    }


def test_identical_content_keeps_the_tree() -> None:
    store, root = _store({"apps/web.yaml": (REG, b"same"), "b": (REG, b"b")})
    before = len(list(store))
    applied = apply_files(store, root, {("apps", "web.yaml"): b"same"})
    assert applied.tree == root and applied.changed == ()
    assert len(list(store)) == before  # nothing written


def test_only_the_changed_file_is_reported() -> None:
    store, root = _store({"a": (REG, b"a"), "b": (REG, b"b")})
    applied = apply_files(store, root, {("a",): b"a", ("b",): b"B"})
    assert applied.changed == ("b",)


@pytest.mark.parametrize(
    "path",
    [("link", "x.yaml"), ("link",), ("apps", "inner", "x.yaml")],
    ids=["directory-symlink", "file-symlink", "nested-symlink"],
)
def test_a_symlink_on_the_way_escapes(path: tuple[str, ...]) -> None:
    store, root = _store(
        {"link": (stat.S_IFLNK, b"/etc"), "apps/inner": (stat.S_IFLNK, b"../../.."), "ok": (REG, b"")}
    )
    with pytest.raises(PathEscapesRepository, match="is a symbolic link in the repository"):
        apply_files(store, root, {path: b"x"})


def test_files_and_directories_do_not_replace_each_other() -> None:
    store, root = _store({"apps/web.yaml": (REG, b"w"), "file": (REG, b"f")})
    with pytest.raises(PathConflict, match="'apps' is a directory in the repository, not a file"):
        apply_files(store, root, {("apps",): b"x"})
    with pytest.raises(PathConflict, match="'file' is a file in the repository, not a directory"):
        apply_files(store, root, {("file", "x.yaml"): b"x"})


def test_a_submodule_is_neither() -> None:
    store, root = _store({"README": (REG, b"r")})
    tree = store[root]
    assert isinstance(tree, Tree)
    tree.add(b"vendor", S_IFGITLINK, ObjectID(b"a" * 40))
    store.add_object(tree)
    with pytest.raises(PathConflict, match="'vendor' is a submodule"):
        apply_files(store, tree.id, {("vendor", "x"): b"x"})
    with pytest.raises(PathConflict, match="'vendor' is a submodule"):
        apply_files(store, tree.id, {("vendor",): b"x"})
