"""Git under faults (issue 15's fourth scenario): two managers' GitWriters (their own work
directories, as two manager processes have) write changes to one branch through `e2e.chaos.proxy`
while an outside pusher (the git CLI, straight to the repository) commits to the same branch, and
the proxy takes the server away in turns: down (connections reset, new ones refused) for 3 s,
hung (every open connection black-holed: the writers' 3 s timeout must end it), and slow (every
chunk held 50 ms) for 3 s. A write that fails is tried again after 0.5 s, as the creation
controller's requeue does; the writers are the controller's, the retry loop is the test's.

Checked against the ledger at the end: every change of both writers is on the branch with its
content, every commit a writer or the outside pusher reported pushed is in the branch's history
(0 lost commits), and the repository's reflog shows every update of the branch as a fast-forward
(0 force pushes). Figures are printed (`-s`) for docs/reliability.md; no test asserts a timing.
`make test` writes 4 changes per writer over SSH; `make test-chaos` 8 times IRC_CHAOS_CYCLES
(40) over HTTP and over SSH.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import random
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from e2e.chaos.ledger import CYCLES
from e2e.chaos.proxy import Proxy
from hack.testbed import git
from irc.gitops import GitAuth, GitError, GitWriter, GitWriterOptions, RepoSpec

pytestmark = pytest.mark.e2e

CHANGES = 8 * CYCLES if CYCLES > 1 else 4
FAULTS = ("down", "hung", "slow")


def run_git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=outside", "-c", "user.email=outside@e2e.invalid", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    return (
        subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", older, newer]).returncode == 0
    )


class Ledger:
    def __init__(self) -> None:
        self.files: dict[str, str] = {}  # every file someone was told is pushed -> its content
        self.commits: list[str] = []  # every commit someone was told is pushed
        self.failures: collections.Counter[str] = collections.Counter()  # GitError reasons
        self.examples: dict[str, str] = {}  # a message of each reason
        self.landed_before_failure = 0  # writes a failed attempt had pushed: the retry found nothing to do
        self.push_retries = 0  # the branch moved between fetch and push
        self.outside_commits = 0
        self.outside_rebases = 0
        self.faults: collections.Counter[str] = collections.Counter()


async def write_changes(
    writer: GitWriter, spec: RepoSpec, auth: GitAuth, prefix: str, ledger: Ledger
) -> None:
    for i in range(CHANGES):
        name, content = f"{prefix}/svc-{i:02}.yaml", f"{prefix} change {i}\n"
        failed = False
        while True:
            try:
                result = await writer.write(spec, {name: content.encode()}, f"{prefix} {i}", auth=auth)
            except GitError as e:
                ledger.failures[e.reason] += 1
                ledger.examples.setdefault(e.reason, e.message)
                failed = True
                await asyncio.sleep(0.5)
                continue
            break
        ledger.push_retries += result.retries
        if result.changed:
            ledger.commits.append(result.commit)
        elif failed:
            ledger.landed_before_failure += 1
        ledger.files[f"apps/{name}"] = content


def push_outside(clone: Path, n: int, ledger: Ledger) -> None:
    """One commit by someone else, pushed without force; on a non-fast-forward, rebase and push."""
    name = f"outside/{n:03}.txt"
    (clone / name).parent.mkdir(exist_ok=True)
    (clone / name).write_text(f"outside {n}\n")
    run_git(clone, "add", name)
    run_git(clone, "commit", "-qm", f"outside {n}")
    while subprocess.run(
        ["git", "-C", str(clone), "push", "-q", "origin", "main"], capture_output=True
    ).returncode:
        run_git(clone, "pull", "-q", "--rebase", "origin", "main")
        ledger.outside_rebases += 1
    ledger.commits.append(run_git(clone, "rev-parse", "HEAD"))
    ledger.outside_commits += 1
    ledger.files[name] = f"outside {n}\n"


async def outside_pusher(clone: Path, ledger: Ledger, stop: asyncio.Event) -> None:
    rng = random.Random(155)
    for n in itertools.count():
        await asyncio.to_thread(push_outside, clone, n, ledger)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(0.5, 1.5))
        if stop.is_set():
            return


async def inject(proxy: Proxy, ledger: Ledger) -> None:
    rng = random.Random(154)
    for fault in itertools.cycle(FAULTS):
        await asyncio.sleep(rng.uniform(1, 2))
        ledger.faults[fault] += 1
        if fault == "down":
            proxy.cut()
            await asyncio.sleep(3)
            proxy.resume()
        elif fault == "hung":
            proxy.freeze()
        else:
            proxy.delay = 0.05
            await asyncio.sleep(3)
            proxy.delay = 0.0


@pytest.mark.parametrize("transport", ["http", "ssh"] if CYCLES > 1 else ["ssh"])
async def test_two_writers_and_an_outside_pusher_through_git_faults_lose_no_commit_and_never_force(
    git_servers: git.GitServers, tmp_path: Path, transport: str
) -> None:
    bare = git_servers.create_repo(f"chaos-{uuid.uuid4().hex[:8]}")
    run_git(bare, "config", "core.logAllRefUpdates", "always")
    clone = tmp_path / "outside"
    run_git(tmp_path, "clone", "-q", str(bare), str(clone))
    ledger = Ledger()
    server_port = git_servers.ssh_port if transport == "ssh" else int(git_servers.http_url.rsplit(":", 1)[1])
    async with Proxy(server_port) as proxy:
        if transport == "ssh":
            url = git_servers.ssh_url(bare.name.removesuffix(".git")).replace(
                f":{git_servers.ssh_port}/", f":{proxy.port}/"
            )
            key = git_servers.known_hosts.read_text().split(" ", 1)[1]
            auth = GitAuth.from_secret_data(
                {
                    "ssh-privatekey": git_servers.ssh_key.read_bytes(),
                    "known_hosts": f"[127.0.0.1]:{proxy.port} {key}".encode(),
                }
            )
        else:
            url = f"http://127.0.0.1:{proxy.port}/{bare.name}"
            auth = GitAuth.from_secret_data({"token": git.HTTP_TOKEN.encode()})
        spec = RepoSpec(url, "main", "apps")
        options = GitWriterOptions(timeout=3.0)
        writers = [GitWriter(tmp_path / f"manager-{m}", options) for m in "ab"]
        started = time.monotonic()
        stop = asyncio.Event()
        outside = asyncio.create_task(outside_pusher(clone, ledger, stop))
        faults = asyncio.create_task(inject(proxy, ledger))
        try:
            async with asyncio.timeout(600):
                await asyncio.gather(
                    *(
                        write_changes(w, spec, auth, f"manager-{m}", ledger)
                        for w, m in zip(writers, "ab", strict=True)
                    )
                )
        finally:
            faults.cancel()
            stop.set()  # not cancelled: its git commands run in a thread, which would go on unseen
            await asyncio.gather(faults, outside, return_exceptions=True)
        elapsed = time.monotonic() - started

    head = run_git(bare, "rev-parse", "refs/heads/main")
    names = run_git(bare, "ls-tree", "-r", "--name-only", "main").splitlines()
    on_main = {name: run_git(bare, "show", f"main:{name}") + "\n" for name in names}
    assert on_main == ledger.files
    lost = [c for c in ledger.commits if not is_ancestor(bare, c, head)]
    assert not lost, f"{len(lost)} commits reported pushed are not in main's history"
    reflog = run_git(bare, "reflog", "show", "--format=%H", "refs/heads/main").splitlines()
    assert reflog[0] == head
    forced = [(old, new) for new, old in itertools.pairwise(reflog) if not is_ancestor(bare, old, new)]
    assert not forced, f"updates of main that were not fast-forwards: {forced}"
    assert len(reflog) == int(run_git(bare, "rev-list", "--count", "main")) - 1  # each push one commit
    assert ledger.failures, "the faults reached the writers"
    print(
        f"\n{transport}: {2 * CHANGES} changes by 2 writers and {ledger.outside_commits} outside commits "
        f"in {elapsed:.1f} s; faults {dict(ledger.faults)}; failed attempts "
        f"{dict(ledger.failures)}; {ledger.landed_before_failure} writes had landed before their attempt "
        f"failed; {ledger.push_retries} push retries, {ledger.outside_rebases} outside rebases; "
        f"{len(reflog)} updates of main, all fast-forwards; 0 commits lost"
    )
    for reason, message in ledger.examples.items():
        print(f"  e.g. {reason}: {message}")
