"""Git's smart HTTP protocol for the test bed: `git http-backend` behind basic and token auth.

Credentials: the configured user and password over Basic, or the token either as a Bearer
token or as the Basic password with any user name (the way GitHub and GitLab take tokens).
Every request must authenticate; an authenticated request may push. TLS is optional.

Run: python -m hack.testbed.githttp --root DIR --port P --user U --password PW --token T
     [--tls-cert C --tls-key K]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import secrets
import shutil
import ssl
import subprocess
import urllib.parse
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BACKEND = Path(subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout.strip())
BACKEND /= "git-http-backend"


def authenticate(header: str | None, user: str, password: str, token: str) -> str | None:
    """The user an Authorization header proves, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return "token" if secrets.compare_digest(value.strip(), token) else None
    if scheme.lower() != "basic":
        return None
    try:
        name, _, secret = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if name == user and secrets.compare_digest(secret, password):
        return name
    if secrets.compare_digest(secret, token):
        return name or "token"
    return None


def make_handler(root: Path, user: str, password: str, token: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 with a Content-Length on every response: a TLS client reading to close would
        # see an unclean shutdown and give up instead of retrying with credentials.
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._cgi()

        def do_POST(self) -> None:
            self._cgi()

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _cgi(self) -> None:
            remote_user = authenticate(self.headers.get("Authorization"), user, password, token)
            if remote_user is None:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="irc-testbed-git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            url = urllib.parse.urlsplit(self.path)
            body = self._body() if self.command == "POST" else b""
            env = {
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REMOTE_USER": remote_user,  # lets http-backend accept pushes
                "REMOTE_ADDR": self.client_address[0],
                "REQUEST_METHOD": self.command,
                "PATH_INFO": urllib.parse.unquote(url.path),
                "QUERY_STRING": url.query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "PATH": "/usr/bin:/bin",
            }
            result = subprocess.run([str(BACKEND)], input=body, env=env, capture_output=True, timeout=300)
            head, _, payload = result.stdout.partition(b"\r\n\r\n")
            status, headers = 200, []
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            if result.returncode != 0 and status == 200:
                status = 500
                self.log_error("git http-backend: %s", result.stderr.decode(errors="replace"))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    args = parser.parse_args(argv)
    if shutil.which(str(BACKEND)) is None:
        raise SystemExit(f"{BACKEND} not found: install git")
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), make_handler(args.root, args.user, args.password, args.token)
    )
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
