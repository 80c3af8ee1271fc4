"""ECR scanning through aiobotocore: which repositories and tags a policy's globs cover (`match`),
what its policy selects (`select`), the scan itself (`scan`) and the AWS credentials and clients
it runs with (`credentials`). No Kubernetes here: `irc scan` and the detection controller share it.
"""

import typing

from .match import RepositoryMatcher as RepositoryMatcher
from .match import compile_glob as compile_glob
from .scan import ScanResult as ScanResult
from .scan import scan as scan
from .select import Image as Image
from .select import ScanSpec as ScanSpec
from .select import Selection as Selection
from .select import Selector as Selector

# Only `credentials` needs aiobotocore (and aiohttp under it); match, scan and select need botocore
# alone. So its two names load on first access (PEP 562), and the CLI's parser, which reads
# irc.ecr.scan.DEFAULT_CONCURRENCY, or a caller of the matcher, does not load aiobotocore. The rest
# stays eager: the function `scan` must shadow the submodule of the same name.
if typing.TYPE_CHECKING:
    from .credentials import AwsClients as AwsClients
    from .credentials import AwsCredentials as AwsCredentials
else:

    def __getattr__(name: str) -> object:
        if name not in ("AwsClients", "AwsCredentials"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from . import credentials

        value = globals()[name] = getattr(credentials, name)
        return value


__all__ = [
    "AwsClients",
    "AwsCredentials",
    "Image",
    "RepositoryMatcher",
    "ScanResult",
    "ScanSpec",
    "Selection",
    "Selector",
    "compile_glob",
    "scan",
]
