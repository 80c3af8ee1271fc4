"""moto's server mode as the test bed's ECR (and STS) endpoint, with two changes that make it
answer as ECR does where irc depends on it:

- Pagination. moto returns every repository and image in one page and ignores maxResults and
  nextToken; ECR pages DescribeRepositories, DescribeImages and ListImages (100 per page by
  default, 1000 at most). Code that stops after the first page must fail here as it would there.
- Push times. ECR records them in milliseconds; moto stamps whole seconds, so a fixture pushing
  many images in one second would get equal times and no defined order. Here each push gets the
  current time in milliseconds, made distinct from the previous push.

Run: python -m hack.testbed.ecrserver -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import base64
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.ecr import models, responses
from moto.server import main as moto_main

DEFAULT_PAGE, MAX_PAGE = 100, 1000

_lock = threading.Lock()
_last_push = 0.0
_image_init = models.Image.__init__


def _init_with_distinct_push_time(self: Any, *args: Any, **kwargs: Any) -> None:
    global _last_push
    _image_init(self, *args, **kwargs)
    with _lock:
        _last_push = self.image_pushed_at = max(round(time.time(), 3), round(_last_push + 0.001, 3))


def _paginated(method: Callable[[Any], ActionResult], key: str) -> Callable[[Any], ActionResult]:
    def page(self: Any) -> ActionResult:
        result = method(self)
        body = result.result
        assert isinstance(body, dict)
        size = self._get_param("maxResults") or DEFAULT_PAGE
        if not 1 <= int(size) <= MAX_PAGE:
            raise JsonRESTError("InvalidParameterException", f"maxResults must be between 1 and {MAX_PAGE}")
        token = self._get_param("nextToken")
        try:
            start = int(base64.b64decode(token).decode()) if token else 0
        except ValueError:
            raise JsonRESTError("InvalidParameterException", "Invalid parameter at 'nextToken'") from None
        items = list(body[key])
        body[key] = items[start : start + int(size)]
        if start + int(size) < len(items):
            body["nextToken"] = base64.b64encode(str(start + int(size)).encode()).decode()
        return ActionResult(body)

    return page


models.Image.__init__ = _init_with_distinct_push_time  # type: ignore[method-assign]
for _name, _key in (
    ("describe_repositories", "repositories"),
    ("describe_images", "imageDetails"),
    ("list_images", "imageIds"),
):
    setattr(responses.ECRResponse, _name, _paginated(getattr(responses.ECRResponse, _name), _key))

if __name__ == "__main__":
    moto_main(sys.argv[1:])
