"""Trusted publishing played end to end, as a GitHub Actions job does it: `uv publish
--trusted-publishing always` with no key at all, against a stack that takes a local issuer for
GitHub's.

uv only ever asks `https://<upload host>/_/oidc/...` (plain http only in its own test builds),
so this stack serves HTTPS with a certificate of a CA made here, which uv trusts through
SSL_CERT_FILE. The issuer and the runner's token endpoint are plain http on 127.0.0.1, which
the stack accepts only because OIDC_ALLOW_INSECURE_LOOPBACK_ISSUERS says so.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.clients import BIN
from tests.clients import Completed
from tests.clients import multipart
from tests.clients import upload_fields
from tests.conftest import DEFAULT_REDIS_URL
from tests.conftest import fresh_database
from tests.oidc import ActionsTokenEndpoint
from tests.oidc import Issuer
from tests.oidc import github_claims
from tests.oidc import new_rsa_key
from tests.services import SeaweedFS
from tests.services import ServicesStack
from tests.services import client_env
from tests.services import running
from tests.services import wait_for

pytestmark = pytest.mark.e2e

# Short enough to see a minted key expire within the test, long enough for uv's upload.
TOKEN_LIFETIME = 20


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 it signed: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wheelhouse test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class HttpsStack(ServicesStack):
    """Production's parts, with gunicorn serving HTTPS, and trusted publishing settings."""

    name = "https"

    def __init__(self, workdir: Path, *, issuer: Issuer, **kwargs: Any) -> None:
        super().__init__(workdir, **kwargs)
        self.ca, self.cert, self.key = _certificates(workdir / "tls")
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.web_options = ["--certfile", str(self.cert), "--keyfile", str(self.key)]
        self.env.update(
            PUBLIC_URL=self.base_url,
            OIDC_GITHUB_ISSUER=issuer.url,
            OIDC_ALLOW_INSECURE_LOOPBACK_ISSUERS="1",
            OIDC_TOKEN_LIFETIME=str(TOKEN_LIFETIME),
        )

    def client(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=str(self.ca)), timeout=30)

    def answers(self) -> bool:
        try:
            with self.client() as client:
                return client.get(self.url("healthz")).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer() as server:
        yield server


@pytest.fixture(scope="module")
def https_stack(session_dir: Path, s3: SeaweedFS, issuer: Issuer) -> Iterator[HttpsStack]:
    # A database of its own: its worker's periodic sweeps must never touch another stack's
    # files, which live in another bucket.
    with fresh_database() as database_url:
        stack = HttpsStack(
            session_dir / "https",
            issuer=issuer,
            database_url=database_url,
            redis_url=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
            s3=s3,
        )
        with running(stack):
            yield stack


def _publisher(stack: HttpsStack, org: str, repo: str, **fields: str) -> None:
    """Configure a GitHub publisher as the organization's owner, through the service."""
    stack.manage("shell", "-c", f"""
from accounts.models import User
from publishing.services import publisher_create
from registry.models import Repository
repository = Repository.objects.get(organization__slug={org!r}, slug={repo!r})
owner = User.objects.get(email={f"owner@{org}.test"!r})
publisher_create(repository=repository, actor=owner, kind="github", **{fields!r})
""")  # fmt: skip


def _dist(folder: Path, name: str, version: str) -> Path:
    package = Package(name, version)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / wheel_filename(package)
    path.write_bytes(wheel_bytes(package))
    return path


def _uv_publish(
    stack: HttpsStack, endpoint: ActionsTokenEndpoint, url: str, dist: Path
) -> Completed:
    env = client_env(**endpoint.env(), SSL_CERT_FILE=str(stack.ca))
    result = subprocess.run(
        [str(BIN / "uv"), "publish", "--trusted-publishing", "always", "--publish-url", url,
         str(dist)],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    return Completed(result.returncode, result.stdout + result.stderr)


def _upload(stack: HttpsStack, url: str, token: str, path: Path, name: str, version: str) -> int:
    body, content_type = multipart(
        upload_fields(path, name, version), {"content": (path.name, path.read_bytes())}
    )
    with stack.client() as client:
        response = client.post(
            url, content=body, auth=("__token__", token), headers={"Content-Type": content_type}
        )
    return response.status_code


def _listed(stack: HttpsStack, org: str, repo: str, project: str, token: str) -> bool:
    with stack.client() as client:
        page = client.get(stack.url(f"{org}/{repo}/simple/{project}/"), auth=("__token__", token))
    return page.status_code == 200 and ".whl" in page.text


@dataclass(frozen=True)
class CiTenant:
    org: str
    reader: str  # a read key, to see what was published

    def upload_url(self, stack: HttpsStack, repo: str = "main") -> str:
        return stack.url(f"{self.org}/{repo}/legacy/")


@pytest.fixture(scope="module")
def ci_tenant(https_stack: HttpsStack) -> CiTenant:
    """An organization with repositories main and other; main trusts the `release.yml`
    workflow of GitHub's acme-corp/app, in its `release` environment."""
    org = f"ci-{uuid.uuid4().hex[:8]}"
    tenant = https_stack.provision(org, "main", scope="read")
    https_stack.provision(org, "other", scope="read")
    _publisher(
        https_stack, org, "main",
        ci_repository="acme-corp/app", workflow="release.yml", environment="release",
    )  # fmt: skip
    return CiTenant(org, str(tenant["api_key"]["token"]))  # type: ignore[index]


def _job_claims(audience: str, **change: str) -> dict[str, Any]:
    return github_claims(audience, **{"environment": "release", **change})


def test_uv_publishes_from_github_actions_with_no_key(
    https_stack: HttpsStack, issuer: Issuer, ci_tenant: CiTenant, tmp_path: Path
) -> None:
    stack = https_stack
    # The job: GitHub's runner hands out identity tokens for whichever audience uv asks.
    job = ActionsTokenEndpoint(issuer, _job_claims)
    with job:
        published = _uv_publish(
            stack, job, ci_tenant.upload_url(stack), _dist(tmp_path, "ci-demo", "1.0")
        )

    assert published.returncode == 0, published.output
    assert job.audiences == ["127.0.0.1"]  # what /_/oidc/audience told uv
    wait_for(
        lambda: _listed(stack, ci_tenant.org, "main", "ci-demo", ci_tenant.reader),
        timeout=60,
        what="ci-demo listed",
    )


@pytest.mark.parametrize(
    ("token", "says"),
    [
        (lambda i, aud: i.token(_job_claims(aud, workflow="evil.yml")),
         "the workflow 'acme-corp/app/.github/workflows/evil.yml@"),
        (lambda i, aud: i.token(_job_claims(aud, repository="acme-corp/fork")),
         "no trusted publisher is configured for this identity"),
        (lambda i, aud: i.token(_job_claims(aud, environment="staging")),
         "the job's environment ('staging') is not the one"),
        (lambda i, aud: i.token(_job_claims(aud), lifetime=-120), "The token has expired"),
        (lambda i, aud: i.token(_job_claims(aud), key=new_rsa_key()),
         "signature does not verify"),
        (lambda i, aud: i.token(_job_claims("pypi")), "The token's audience (aud) is not"),
    ],
    ids=["workflow", "repository", "environment", "expired", "another key", "another audience"],
)  # fmt: skip
def test_uv_prints_why_a_token_was_refused(
    https_stack: HttpsStack,
    issuer: Issuer,
    ci_tenant: CiTenant,
    tmp_path: Path,
    token: Callable[[Issuer, str], str],
    says: str,
) -> None:
    job = ActionsTokenEndpoint(issuer, _job_claims, lambda audience: token(issuer, audience))
    with job:
        refused = _uv_publish(
            https_stack, job, ci_tenant.upload_url(https_stack), _dist(tmp_path, "ci-demo", "9.0")
        )

    assert refused.returncode != 0
    assert "422" in refused.output
    assert says in refused.output, refused.output


def test_the_minted_key_works_once_for_its_repository_until_it_expires(
    https_stack: HttpsStack, issuer: Issuer, ci_tenant: CiTenant, tmp_path: Path
) -> None:
    stack = https_stack
    with stack.client() as client:
        identity = issuer.token(_job_claims("127.0.0.1"))
        minted = client.post(stack.url("_/oidc/mint-token"), json={"token": identity}).json()
        replayed = client.post(stack.url("_/oidc/mint-token"), json={"token": identity})
    token = minted["token"]
    assert replayed.status_code == 422
    assert "already exchanged" in replayed.json()["errors"][0]["description"]
    wheel = _dist(tmp_path / "a", "ci-demo", "3.0")
    main, other = ci_tenant.upload_url(stack), ci_tenant.upload_url(stack, "other")

    assert _upload(stack, other, token, wheel, "ci-demo", "3.0") == 404
    assert _upload(stack, main, token, wheel, "ci-demo", "3.0") == 200

    time.sleep(max(0.0, minted["expires"] - time.time()) + 1)
    later = _dist(tmp_path / "b", "ci-demo", "4.0")
    assert _upload(stack, main, token, later, "ci-demo", "4.0") == 401
