"""ECR scanning through aiobotocore: which repositories and tags a policy's globs cover (`match`),
what its policy selects (`select`), the scan itself (`scan`) and the AWS credentials and clients
it runs with (`credentials`). No Kubernetes here: `irc scan` and the detection controller share it.
"""

from .credentials import AwsClients as AwsClients
from .credentials import AwsCredentials as AwsCredentials
from .match import RepositoryMatcher as RepositoryMatcher
from .match import compile_glob as compile_glob
from .scan import ScanResult as ScanResult
from .scan import scan as scan
from .select import Image as Image
from .select import ScanSpec as ScanSpec
from .select import Selection as Selection
from .select import Selector as Selector

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
