"""moto's server mode as the test bed's ECR (and STS) endpoint, with two changes that make it
answer as ECR does where irc depends on it:

- Pagination. moto returns every repository and image in one page and ignores maxResults and
  nextToken; ECR pages DescribeRepositories, DescribeImages and ListImages (100 per page by
  default, 1000 at most). Code that stops after the first page must fail here as it would there.
- Push times. ECR records them in milliseconds; moto stamps whole seconds, so a fixture pushing
  many images in one second would get equal times and no defined order. Here each push gets the
  current time in milliseconds, made distinct from the previous push.

In front of moto sits a small WSGI layer with control endpoints under /irc-testbed/, for tests
and benchmarks that need more than ECR's own API offers:

- faults: POST {"action", "status", "code", "count"} answers the next `count` ECR calls of
  `action` (`*` = any) with that AWS JSON error instead of reaching moto; GET lists, DELETE clears.
- calls: GET counts every ECR and STS request by action (faulted ones too); DELETE resets.
- seed: POST {"region", "repositories": {name: [tag, ...]}} creates repositories and images in
  moto's backend directly, as put_image would, since 100k pushes through the API take too long.

Run: python -m hack.testbed.ecrserver -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from moto.core.exceptions import JsonRESTError, ServiceException
from moto.core.responses import ActionResult
from moto.ecr import models, responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

from hack.testbed.ecr import ACCOUNT_ID, manifest

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

DEFAULT_PAGE, MAX_PAGE = 100, 1000

_lock = threading.RLock()  # seed holds it across put_image, which takes it again
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


CONTROL = "/irc-testbed/"
ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921."
AWS_JSON = "application/x-amz-json-1.1"


@dataclass
class Fault:
    status: int
    code: str | None
    """None: after `delay`, the call is served as usual (a slow registry, not a failing one)."""
    count: int
    delay: float = 0.0


def _action(environ: WSGIEnvironment) -> tuple[str, bool]:
    """The request's AWS action and whether it is an ECR one. JSON-protocol services (ECR) name it
    in X-Amz-Target; query-protocol ones (STS) in `Action=`, usually in a form body, which is read
    here and put back for moto."""
    target: str = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rpartition(".")[2], target.startswith(ECR_TARGET)
    params = parse_qs(environ.get("QUERY_STRING", ""))
    length = environ.get("CONTENT_LENGTH")
    if length and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)
        params.update(parse_qs(body.decode(errors="replace")))
    return params.get("Action", [""])[0], False


def seed(region: str, repositories: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
    """Push ecr.manifest(repository, tag) for every tag through moto's backend in-process, creating
    repositories as needed; returns repository → tag → digest, as ecr.populate does. Push times
    step a millisecond per image from before now (never before an earlier push), so a large seed
    does not leave images pushed in the future."""
    global _last_push
    backend = models.ecr_backends[ACCOUNT_ID][region]
    out: dict[str, dict[str, str]] = {}
    with _lock:
        pushed = max(_last_push, time.time() - sum(map(len, repositories.values())) / 1000)
        for name, tags in repositories.items():
            if name not in backend.repositories:
                backend.create_repository(name, None, {}, None, "MUTABLE", [])
            out[name] = {}
            for tag in tags:
                image: Any = backend.put_image(name, manifest(name, tag), tag)  # pushed_at: float
                _last_push = image.image_pushed_at = pushed = round(pushed + 0.001, 3)
                out[name][tag] = image.get_image_digest()
    return out


class Testbed:
    """WSGI middleware in front of moto's app: counts calls, answers injected faults and serves the
    /irc-testbed/ control endpoints; every other request reaches moto unchanged."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.faults: dict[str, Fault] = {}
        self.calls: Counter[str] = Counter()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL):
            return self.control(Request(environ))(environ, start_response)
        action, is_ecr = _action(environ)
        with self.lock:
            if action:
                self.calls[action] += 1
            fault = self._take_fault(action) if is_ecr else None
        if fault is not None and fault.delay:
            time.sleep(fault.delay)  # this request's own server thread
        if fault is None or fault.code is None:
            return self.app(environ, start_response)
        body = {"__type": fault.code, "message": f"{fault.code} injected by the irc test bed"}
        return Response(json.dumps(body), fault.status, content_type=AWS_JSON)(environ, start_response)

    def _take_fault(self, action: str) -> Fault | None:
        for key in (action, "*"):
            fault = self.faults.get(key)
            if fault and fault.count > 0:
                fault.count -= 1
                return fault
        return None

    def control(self, request: Request) -> Response:
        route = (request.method, request.path.removeprefix(CONTROL))
        try:
            spec = json.loads(request.get_data() or b"{}")
            if route == ("POST", "seed"):
                return _json(seed(spec["region"], spec["repositories"]))
            with self.lock:
                if route == ("POST", "faults"):
                    code = spec.get("code")
                    fault = Fault(
                        int(spec.get("status", 400)),
                        None if code is None else str(code),
                        int(spec.get("count", 1)),
                        float(spec.get("delay", 0)),
                    )
                    if fault.code is None and fault.delay <= 0:
                        raise ValueError("a fault needs an error code, a delay, or both")
                    if not 400 <= fault.status <= 599:
                        raise ValueError(f"status {fault.status} is not an error status")
                    self.faults[str(spec["action"])] = fault
                elif route == ("DELETE", "faults"):
                    self.faults.clear()
                elif route == ("DELETE", "calls"):
                    self.calls.clear()
                elif route not in (("GET", "faults"), ("GET", "calls")):
                    return Response("no such endpoint\n", 404)
                state = {"faults": {a: asdict(f) for a, f in self.faults.items()}, "calls": dict(self.calls)}
            return _json(state[route[1]])
        except (KeyError, TypeError, ValueError, ServiceException) as e:
            return Response(f"bad request: {e!r}\n", 400)


def _json(body: object) -> Response:
    return Response(json.dumps(body), content_type="application/json")


def main(argv: Sequence[str] | None = None) -> None:
    """moto.server.main's serving, minus what the test bed never uses, with the Testbed layer."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds some URLs from it
    app = Testbed(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
