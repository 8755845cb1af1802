"""A local OIDC issuer and a fake GitHub Actions token endpoint, on 127.0.0.1.

`Issuer` serves `/.well-known/openid-configuration` and its JWKS, and signs tokens with a test
RSA key (PyJWT); it can rotate to a new key, and counts how often its keys were fetched.
`ActionsTokenEndpoint` plays the runner's ACTIONS_ID_TOKEN_REQUEST_URL: uv GETs it with
`?audience=...` and `Authorization: bearer <request token>` and gets `{"value": "<JWT>"}`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any
from typing import Self
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

SigningKey = RSAPrivateKey | EllipticCurvePrivateKey
GITHUB_OWNER_ID = "1001"
GITHUB_REPOSITORY_ID = "2002"


def new_rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec_key() -> EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: SigningKey, kid: str | None = None) -> dict[str, Any]:
    """The public half of `key` as a key set lists it, under `kid` (or under no id)."""
    if isinstance(key, EllipticCurvePrivateKey):
        text, algorithm = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()), "ES256"
    else:
        text, algorithm = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()), "RS256"
    data: dict[str, Any] = json.loads(text)
    named = {"kid": kid} if kid is not None else {}
    return {**data, **named, "alg": algorithm, "use": "sig"}


@dataclass(frozen=True)
class Raw:
    """An answer's body sent as it is (not as JSON), with extra headers (a redirect's
    Location)."""

    data: bytes
    headers: dict[str, str] = field(default_factory=dict)


class _Served:
    """A threaded HTTP server on a free loopback port, answering JSON through `_answer`;
    running while in a `with` block."""

    def __init__(self) -> None:
        self._server = _Server(self._answer)

    def _answer(self, request: BaseHTTPRequestHandler) -> tuple[int, Any]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()


class _Server:
    def __init__(self, handle: Callable[[BaseHTTPRequestHandler], tuple[int, Any]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = handle(self)
                raw = body if isinstance(body, Raw) else Raw(json.dumps(body).encode())
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw.data)))
                for name, value in raw.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw.data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Issuer(_Served):
    """An OIDC issuer whose tokens the registry checks against the keys served here."""

    def __init__(self, *, elliptic: bool = False, path: str = "") -> None:
        """Signing with RS256 (GitHub's and GitLab's choice), or ES256 when `elliptic`; at
        the server's root, or at `path` on it (as GitHub Enterprise's `/_services/token`)."""
        super().__init__()
        self.key: SigningKey = new_ec_key() if elliptic else new_rsa_key()
        self.algorithm = "ES256" if elliptic else "RS256"
        self.kid = "key-1"
        self.published: dict[str, SigningKey] = {self.kid: self.key}
        self.jwks_fetches = 0
        self.path = path
        self.url = self._server.url + path
        # What its discovery document says the issuer is (another issuer's name: a mix-up).
        self.announced = self.url
        # Answers that replace the usual ones, by path (a broken or hostile issuer).
        self.answers: dict[str, tuple[int, Any]] = {}
        # Seconds each answer waits (an issuer too slow to answer).
        self.delay = 0.0
        self.accepts: list[str] = []

    def discovery(self) -> dict[str, Any]:
        """Its `/.well-known/openid-configuration`."""
        return {"issuer": self.announced, "jwks_uri": f"{self.url}/jwks"}

    def jwks(self) -> dict[str, Any]:
        """Its key set: the public half of every key it published."""
        return {"keys": [public_jwk(key, kid) for kid, key in self.published.items()]}

    def _answer(self, request: BaseHTTPRequestHandler) -> tuple[int, Any]:
        time.sleep(self.delay)
        self.accepts.append(request.headers.get("Accept", ""))
        if request.path == f"{self.path}/jwks":
            self.jwks_fetches += 1
        if request.path in self.answers:
            return self.answers[request.path]
        if request.path == f"{self.path}/.well-known/openid-configuration":
            return 200, self.discovery()
        if request.path == f"{self.path}/jwks":
            return 200, self.jwks()
        return 404, {"message": "not found"}

    def rotate(self) -> None:
        """Sign with a new key under a new key id, and publish it beside the old one."""
        self.key = new_ec_key() if self.algorithm == "ES256" else new_rsa_key()
        self.kid = f"key-{len(self.published) + 1}"
        self.published[self.kid] = self.key

    def token(
        self,
        claims: dict[str, Any],
        *,
        key: SigningKey | None = None,
        kid: str | None = None,
        algorithm: str = "",
        lifetime: int = 300,
        unnamed: bool = False,
    ) -> str:
        """`claims` signed (with this issuer's current key unless `key`), with iss, iat, exp,
        nbf and a fresh jti filled in where `claims` does not set them (None drops one); the
        header names the key (`kid`) unless `unnamed`."""
        now = int(time.time())
        full = {
            "iss": self.url, "iat": now, "nbf": now, "exp": now + lifetime,
            "jti": str(uuid.uuid4()), **claims,
        }  # fmt: skip
        full = {name: value for name, value in full.items() if value is not None}
        signing_key: Any = key or self.key
        algorithm = algorithm or self.algorithm
        if algorithm.startswith("HS"):
            signing_key = "a shared secret anyone could know"
        headers = {} if unnamed else {"kid": kid or self.kid}
        return jwt.encode(full, signing_key, algorithm=algorithm, headers=headers)


def github_claims(
    audience: str,
    *,
    repository: str = "acme-corp/app",
    workflow: str = "release.yml",
    ref: str = "refs/heads/main",
    environment: str | None = None,
    owner_id: str = GITHUB_OWNER_ID,
    repository_id: str = GITHUB_REPOSITORY_ID,
) -> dict[str, Any]:
    """The claims of a GitHub Actions identity token, as GitHub issues them."""
    owner = repository.split("/")[0]
    return {
        "aud": audience,
        "sub": f"repo:{repository}:ref:{ref}",
        "repository": repository,
        "repository_owner": owner,
        "repository_owner_id": owner_id,
        "repository_id": repository_id,
        "job_workflow_ref": f"{repository}/.github/workflows/{workflow}@{ref}",
        "workflow_ref": f"{repository}/.github/workflows/{workflow}@{ref}",
        "ref": ref,
        "sha": "0" * 40,
        "run_id": "42",
        "environment": environment,
    }


def gitlab_claims(
    audience: str,
    *,
    host: str = "gitlab.com",
    project_path: str = "acme/app",
    ci_config: str = ".gitlab-ci.yml",
    ref: str = "refs/heads/main",
    environment: str | None = None,
) -> dict[str, Any]:
    """The claims of a GitLab CI identity token (`id_tokens:` in .gitlab-ci.yml)."""
    return {
        "aud": audience,
        "sub": f"project_path:{project_path}:ref_type:branch:ref:main",
        "project_path": project_path,
        "namespace_path": project_path.rsplit("/", 1)[0],
        "ci_config_ref_uri": f"{host}/{project_path}//{ci_config}@{ref}",
        "ref": "main",
        "pipeline_id": "7",
        "environment": environment,
    }


class ActionsTokenEndpoint(_Served):
    """GitHub's ACTIONS_ID_TOKEN_REQUEST_URL for one job: `token(audience)` (by default the
    issuer's token with `claims(audience)`) to whoever presents the job's request token."""

    def __init__(
        self,
        issuer: Issuer,
        claims: Callable[[str], dict[str, Any]],
        token: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__()
        self.token = token or (lambda audience: issuer.token(claims(audience)))
        self.request_token = uuid.uuid4().hex
        self.audiences: list[str] = []
        self.url = f"{self._server.url}/token?api-version=2.0"

    def _answer(self, request: BaseHTTPRequestHandler) -> tuple[int, Any]:
        if request.headers.get("Authorization", "").lower() != f"bearer {self.request_token}":
            return 401, {"message": "bad request token"}
        audience = parse_qs(urlsplit(request.path).query).get("audience", [""])[0]
        self.audiences.append(audience)
        return 200, {"value": self.token(audience)}

    def env(self) -> dict[str, str]:
        """What a GitHub Actions job with `id-token: write` has in its environment."""
        return {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
        }
