"""Writing manifests to Git with dulwich: what the creation reconciler commits and pushes.

    GitAuth.from_secret_data(secret.data)          token | username+password | ssh-privatekey (+passphrase)
        │                                          + known_hosts, ca.crt
    GitWriter(work_dir).write(RepoSpec(url, branch, path, push_branch), files, message, author, auth=…)
        │ paths      every file under `path`: no `..`, absolute paths, `.git` (PathEscapesRepository)
        │ transport  ssh (OpenSSH, host keys verified) | https (urllib3, custom CA) | local (tests)
        │ tree       files written into the fetched head's tree; symlinks on the way are refused
        └ writer     per-branch lock, shallow cached clone, commit only on change, compare-and-swap
                     push, fetch + re-apply + jittered back-off when the branch moved; never forces
    → WriteResult(commit, changed, attempts, files, …)    .commits / .retries feed the metrics

Every failure is a GitError, an irc.runtime.errors.ReconcileError whose `reason` is its class name
(errors.py draws the tree). No secret reaches a log line, a message, a repr or a result.
"""

from .auth import GitAuth as GitAuth
from .errors import BranchNotFound as BranchNotFound
from .errors import GitAuthFailed as GitAuthFailed
from .errors import GitCredentialsInvalid as GitCredentialsInvalid
from .errors import GitCredentialsMissing as GitCredentialsMissing
from .errors import GitError as GitError
from .errors import GitHostKeyMismatch as GitHostKeyMismatch
from .errors import GitHostKeyUnknown as GitHostKeyUnknown
from .errors import GitRepositoryNotFound as GitRepositoryNotFound
from .errors import GitTLSFailed as GitTLSFailed
from .errors import GitUnreachable as GitUnreachable
from .errors import InvalidBranchName as InvalidBranchName
from .errors import InvalidGitURL as InvalidGitURL
from .errors import KnownHostsMissing as KnownHostsMissing
from .errors import PathConflict as PathConflict
from .errors import PathEscapesRepository as PathEscapesRepository
from .errors import PushRejected as PushRejected
from .writer import GitWriter as GitWriter
from .writer import GitWriterOptions as GitWriterOptions
from .writer import RepoSpec as RepoSpec
from .writer import Signature as Signature
from .writer import WriteResult as WriteResult

__all__ = [
    "BranchNotFound",
    "GitAuth",
    "GitAuthFailed",
    "GitCredentialsInvalid",
    "GitCredentialsMissing",
    "GitError",
    "GitHostKeyMismatch",
    "GitHostKeyUnknown",
    "GitRepositoryNotFound",
    "GitTLSFailed",
    "GitUnreachable",
    "GitWriter",
    "GitWriterOptions",
    "InvalidBranchName",
    "InvalidGitURL",
    "KnownHostsMissing",
    "PathConflict",
    "PathEscapesRepository",
    "PushRejected",
    "RepoSpec",
    "Signature",
    "WriteResult",
]
