"""moto's server mode as the test bed's ECR (and STS) endpoint, with one change: push times.

Real ECR records push times in milliseconds; moto stamps whole seconds, so a fixture pushing many
images in one second would get equal times and no defined order. Here each push gets the current
time in milliseconds, made distinct from the previous push, so push order is always recoverable.

Run: python -m hack.testbed.ecrserver -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from moto.ecr import models
from moto.server import main as moto_main

_lock = threading.Lock()
_last_push = 0.0
_image_init = models.Image.__init__


def _init_with_distinct_push_time(self: Any, *args: Any, **kwargs: Any) -> None:
    global _last_push
    _image_init(self, *args, **kwargs)
    with _lock:
        _last_push = self.image_pushed_at = max(round(time.time(), 3), round(_last_push + 0.001, 3))


models.Image.__init__ = _init_with_distinct_push_time  # type: ignore[method-assign]

if __name__ == "__main__":
    moto_main(sys.argv[1:])
