"""Tag selection: which image tag a policy picks, with the semantics of Flux's ImagePolicy.

The pipeline for one repository's tags::

    tags ─▶ drop sha256-….sig/.att/.sbom ─▶ filterTags (regex + "$1" extract) ─▶ policy ─▶ original tag | None
                                                                         semver / alphabetical / numerical

``irc.tags.semver`` is the Masterminds/semver v3 range grammar Flux uses (``Constraint``,
``compare_versions``, ``parse_version``); ``irc.tags.select`` applies policies and filters (``select_tag``)
and carries the seed's tag-prefix rule (``tag_prefix``, ``group_by_prefix``, ``select_per_prefix``).
Pure functions, no I/O.
"""

from .select import Policy as Policy
from .select import TagFilter as TagFilter
from .select import compile_go_regex as compile_go_regex
from .select import group_by_prefix as group_by_prefix
from .select import is_signature_tag as is_signature_tag
from .select import select_per_prefix as select_per_prefix
from .select import select_tag as select_tag
from .select import tag_prefix as tag_prefix
from .semver import Constraint as Constraint
from .semver import Version as Version
from .semver import compare_versions as compare_versions
from .semver import parse_version as parse_version

__all__ = [
    "Constraint",
    "Policy",
    "TagFilter",
    "Version",
    "compare_versions",
    "compile_go_regex",
    "group_by_prefix",
    "is_signature_tag",
    "parse_version",
    "select_per_prefix",
    "select_tag",
    "tag_prefix",
]
