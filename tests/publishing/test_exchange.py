"""The /_/oidc/ exchange in-process, against a real local issuer: which tokens buy an upload
key, what the key can do, and why every other token is refused."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models.signals import post_init
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey
from accounts.models import AuditEvent
from accounts.models import KeyScope
from accounts.services import organization_get_or_create
from publishing.models import PublisherKind
from publishing.models import TrustedPublisher
from publishing.oidc import MAX_DOCUMENT_BYTES
from publishing.services import publisher_create
from registry.services import repository_get_or_create
from tests.artifacts import Package
from tests.artifacts import wheel_bytes
from tests.artifacts import wheel_filename
from tests.fixtures.hostile import Upload
from tests.oidc import GITHUB_OWNER_ID
from tests.oidc import GITHUB_REPOSITORY_ID
from tests.oidc import Issuer
from tests.oidc import Raw
from tests.oidc import github_claims
from tests.oidc import gitlab_claims
from tests.oidc import new_ec_key
from tests.oidc import new_rsa_key
from tests.oidc import public_jwk
from tests.publishing.conftest import mint
from tests.publishing.conftest import refusal
from tests.world import Tenant

pytestmark = pytest.mark.django_db

AUD = settings.OIDC_AUDIENCE


def _upload(name: str = "demo-app", version: str = "1.0") -> Upload:
    package = Package(name, version)
    return Upload(wheel_filename(package), wheel_bytes(package), name=name, version=version)


def _minted() -> Any:
    return ApiKey.objects.filter(name__startswith="trusted publisher")


def _github_publisher(tenant: Tenant, **fields: Any) -> TrustedPublisher:
    fields = {"ci_repository": "acme-corp/app", "workflow": "release.yml", **fields}
    return publisher_create(
        repository=tenant.repository, actor=tenant.owner, kind=PublisherKind.GITHUB, **fields
    )


def test_it_tells_clients_the_audience_to_request() -> None:
    response = Client().get("/_/oidc/audience")

    assert response.status_code == 200
    assert response.json() == {"audience": settings.OIDC_AUDIENCE}
    # Unless configured, the host name clients reach us by.
    assert urlsplit(settings.PUBLIC_URL).hostname == settings.OIDC_AUDIENCE


def test_a_matching_github_token_buys_a_15_minute_upload_key_for_its_repository(
    tenant: Tenant, github: Issuer
) -> None:
    publisher = _github_publisher(tenant)

    response = mint(github.token(github_claims(AUD)))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert abs(body["expires"] - (time.time() + 15 * 60)) < 30
    key = ApiKey.objects.get(name=f"trusted publisher {publisher.pk}")
    assert (key.scope, key.all_repositories, key.created_by, key.upload_project) == (
        KeyScope.UPLOAD, False, None, ""
    )  # fmt: skip
    assert list(key.repositories.all()) == [tenant.repository]
    assert tenant.post(_upload(), token=body["token"]).status_code == 200
    # The account's and repository's immutable ids, recorded at first use.
    publisher.refresh_from_db()
    assert (publisher.owner_id, publisher.ci_repository_id) == (
        GITHUB_OWNER_ID, GITHUB_REPOSITORY_ID
    )  # fmt: skip
    assert publisher.last_used_at is not None
    event = AuditEvent.objects.get(action="trusted_publisher.mint")
    assert event.target == f"key {key.public_id}"
    assert event.details["claims"]["repository"] == "acme-corp/app"
    assert event.details["claims"]["job_workflow_ref"].startswith(
        "acme-corp/app/.github/workflows/release.yml@"
    )
    assert event.details["publishers"][0]["id"] == publisher.pk


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"repository": "acme-corp/other"}, "no trusted publisher is configured for this identity"),
        ({"workflow": "evil.yml"}, "the workflow 'acme-corp/app/.github/workflows/evil.yml@"
         "refs/heads/main' (job_workflow_ref) is not the one the trusted publisher of "
         "acme-corp/app trusts"),
        ({"environment": "staging"}, "the job's environment ('staging') is not the one the "
         "trusted publisher of acme-corp/app requires"),
        ({"environment": None}, "the job's environment ('none') is not the one the trusted "
         "publisher of acme-corp/app requires"),
        ({"owner_id": "6666"}, "the owner of acme-corp/app is account id '6666', not the one "
         "the trusted publisher trusts: the account was renamed or deleted, and this is "
         "another one"),
        ({"repository_id": "7777"}, "acme-corp/app is repository id '7777', not the one the "
         "trusted publisher trusts: it was deleted and created again"),
    ],
    ids=["repository", "workflow", "environment", "no environment", "owner id", "repository id"],
)  # fmt: skip
def test_each_github_claim_that_does_not_match_is_refused_with_its_reason(
    tenant: Tenant, github: Issuer, claims: dict[str, Any], reason: str
) -> None:
    _github_publisher(
        tenant,
        environment="release",
        owner_id=GITHUB_OWNER_ID,
        ci_repository_id=GITHUB_REPOSITORY_ID,
    )
    token = github.token(github_claims(AUD, **{"environment": "release", **claims}))

    code, description = refusal(mint(token))

    assert code == "invalid-publisher"
    assert description == f"valid token, but no corresponding publisher ({reason})"
    assert not _minted().exists()


def test_a_token_without_the_claim_naming_its_workflow_is_refused_saying_so(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant)
    token = github.token({**github_claims(AUD), "job_workflow_ref": None})

    code, description = refusal(mint(token))

    assert code == "invalid-publisher"
    assert description == (
        "valid token, but no corresponding publisher (the workflow 'none' (job_workflow_ref) is "
        "not the one the trusted publisher of acme-corp/app trusts)"
    )


def test_a_renamed_and_reregistered_owner_cannot_take_over_once_ids_are_recorded(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant)
    assert mint(github.token(github_claims(AUD))).status_code == 200

    # Same names, a new account: GitHub gives it new ids.
    squatter = github_claims(AUD, owner_id="9999", repository_id="8888")
    code, description = refusal(mint(github.token(squatter)))

    assert code == "invalid-publisher"
    assert "account id '9999'" in description


def test_a_token_without_the_github_ids_records_none_and_a_later_one_records_them(
    tenant: Tenant, github: Issuer
) -> None:
    publisher = _github_publisher(tenant)
    without_ids = {**github_claims(AUD), "repository_owner_id": None, "repository_id": None}

    assert mint(github.token(without_ids)).status_code == 200
    publisher.refresh_from_db()
    assert (publisher.owner_id, publisher.ci_repository_id) == ("", "")
    assert mint(github.token(github_claims(AUD))).status_code == 200
    publisher.refresh_from_db()
    assert (publisher.owner_id, publisher.ci_repository_id) == (
        GITHUB_OWNER_ID, GITHUB_REPOSITORY_ID
    )  # fmt: skip


def test_a_token_without_a_jti_or_with_several_audiences_is_exchanged_once(
    tenant: Tenant, github: Issuer
) -> None:
    """Both are allowed by the JWT rules: `aud` may be a list, and `jti` is optional (the
    token's own hash then stands for it against replays)."""
    _github_publisher(tenant)
    claims = {**github_claims(AUD), "jti": None, "aud": [AUD, "https://elsewhere.example"]}
    token = github.token(claims)

    assert mint(token).status_code == 200
    code, description = refusal(mint(token))
    assert code == "invalid-token"
    assert "already exchanged" in description


def test_environment_names_match_regardless_of_case(tenant: Tenant, github: Issuer) -> None:
    _github_publisher(tenant, environment="Release")

    response = mint(github.token(github_claims(AUD, environment="release")))

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"exp": int(time.time()) - 120}, "The token has expired (exp)."),
        ({"nbf": int(time.time()) + 600},
         "The token is not valid yet (The token is not yet valid (nbf)): check the clocks."),
        ({"iat": int(time.time()) + 600},
         "The token is not valid yet (The token is not yet valid (iat)): check the clocks."),
        ({"aud": "pypi"}, f"The token's audience (aud) is not {AUD!r}: request it for this "
         "registry's audience (GET /_/oidc/audience)."),
        ({"exp": None}, 'The token lacks a claim: Token is missing the "exp" claim.'),
        ({"iat": "yesterday"},
         "Malformed or invalid token (Issued At claim (iat) must be an integer.)."),
    ],
    ids=["expired", "not yet valid", "issued in the future", "other audience", "no expiry",
         "issued at no time"],
)  # fmt: skip
def test_tokens_outside_their_validity_or_for_another_audience_are_refused(
    tenant: Tenant, github: Issuer, change: dict[str, Any], reason: str
) -> None:
    """Each says why, in words the CI log shows (uv prints the description)."""
    _github_publisher(tenant)

    code, description = refusal(mint(github.token({**github_claims(AUD), **change})))

    assert (code, description) == ("invalid-token", reason)


@pytest.mark.parametrize("issuer", [None, "", 42], ids=["none", "empty", "not text"])
def test_a_token_without_an_issuer_is_refused(
    tenant: Tenant, github: Issuer, issuer: object
) -> None:
    _github_publisher(tenant)
    claims = {**github_claims(AUD), "iss": issuer, "iat": int(time.time())}
    # Signed as it is: PyJWT itself would not encode an issuer that is not text.
    payload = json.dumps({name: value for name, value in claims.items() if value is not None})
    token = jwt.api_jws.encode(
        payload.encode(), github.key, algorithm="RS256", headers={"kid": github.kid}
    )

    response = mint(token)

    assert refusal(response) == ("invalid-token", "The token has no issuer (iss).")
    assert github.jwks_fetches == 0


def test_a_token_is_accepted_within_the_leeway_of_its_expiry(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant)
    token = github.token({**github_claims(AUD), "exp": int(time.time()) - 5})

    assert mint(token).status_code == 200
    # ... and only once: it is remembered for as long as it would be accepted.
    assert refusal(mint(token))[0] == "invalid-token"


def test_a_token_presented_twice_is_refused_the_second_time(tenant: Tenant, github: Issuer) -> None:
    _github_publisher(tenant)
    token = github.token(github_claims(AUD))
    assert mint(token).status_code == 200

    code, description = refusal(mint(token))

    assert code == "invalid-token"
    assert description == (
        "This token was already exchanged (its jti was seen): each identity token can be used "
        "once; request a new one."
    )
    assert _minted().count() == 1


def test_another_token_under_a_jti_already_seen_is_refused(tenant: Tenant, github: Issuer) -> None:
    """The jti names the token: an issuer never gives two tokens one jti, so a second token
    under a used one is a replay, whatever else it carries."""
    _github_publisher(tenant)
    first = github.token({**github_claims(AUD), "jti": "run-42"})
    second = github.token({**github_claims(AUD), "jti": "run-42", "run_id": "43"})

    assert mint(first).status_code == 200
    code, description = refusal(mint(second))

    assert code == "invalid-token"
    assert "already exchanged" in description


def test_tokens_of_two_issuers_with_the_same_jti_are_each_exchanged(
    tenant: Tenant, github: Issuer, other_issuer: Issuer
) -> None:
    """A jti is unique only among its issuer's tokens."""
    _github_publisher(tenant)
    _oidc_publisher(tenant, other_issuer.url)

    from_github = mint(github.token({**github_claims(AUD), "jti": "1"}))
    from_other = mint(other_issuer.token({"sub": "pipeline:release", "aud": AUD, "jti": "1"}))

    assert (from_github.status_code, from_other.status_code) == (200, 200)
    assert _minted().count() == 2


def test_a_token_with_a_very_long_jti_is_exchanged_once(tenant: Tenant, github: Issuer) -> None:
    _github_publisher(tenant)
    token = github.token({**github_claims(AUD), "jti": "j" * 300})

    assert mint(token).status_code == 200
    assert refusal(mint(token))[0] == "invalid-token"


def test_a_token_signed_by_another_key_under_the_issuers_key_id_is_refused(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant)

    code, description = refusal(mint(github.token(github_claims(AUD), key=new_rsa_key())))

    assert code == "invalid-token"
    assert "signature does not verify" in description


def test_a_token_claiming_an_issuer_no_publisher_names_is_refused_without_asking_it(
    tenant: Tenant, github: Issuer, other_issuer: Issuer
) -> None:
    _github_publisher(tenant)
    # Publishers of other issuers say nothing about this one.
    _oidc_publisher(tenant, "https://ci.example")

    code, description = refusal(mint(other_issuer.token(github_claims(AUD))))

    assert code == "invalid-publisher"
    assert f"no trusted publisher is configured for issuer {other_issuer.url}" in description
    assert other_issuer.jwks_fetches == 0


def test_a_token_from_another_issuer_claiming_to_be_github_is_refused(
    tenant: Tenant, github: Issuer, other_issuer: Issuer
) -> None:
    _github_publisher(tenant)
    forged = other_issuer.token({**github_claims(AUD), "iss": github.url}, kid=github.kid)

    code, description = refusal(mint(forged))

    assert code == "invalid-token"
    assert "signature does not verify" in description


def test_a_new_key_id_fetches_the_keys_again_once(tenant: Tenant, github: Issuer) -> None:
    _github_publisher(tenant)
    assert mint(github.token(github_claims(AUD))).status_code == 200
    assert github.jwks_fetches == 1
    # A second token under the same key: the keys are taken from memory.
    assert mint(github.token(github_claims(AUD))).status_code == 200
    assert github.jwks_fetches == 1

    github.rotate()
    response = mint(github.token(github_claims(AUD)))

    assert response.status_code == 200, response.content
    assert github.jwks_fetches == 2
    # The keys fetched again are remembered in their turn.
    assert mint(github.token(github_claims(AUD))).status_code == 200
    assert github.jwks_fetches == 2


@pytest.mark.parametrize("path", ["", "/_services/tokenX"], ids=["root", "path"])
def test_the_github_issuer_setting_is_taken_as_given_but_for_a_trailing_slash(
    tenant: Tenant, settings: Any, path: str
) -> None:
    """GitHub Enterprise's issuer has a path; any character may end it."""
    settings.OIDC_ALLOW_INSECURE_LOOPBACK_ISSUERS = True
    with Issuer(path=path) as issuer:
        settings.OIDC_GITHUB_ISSUER = f"{issuer.url}/"
        _github_publisher(tenant)

        response = mint(issuer.token(github_claims(AUD)))

    assert response.status_code == 200, response.content


def test_a_publisher_by_claims_may_trust_githubs_tokens_with_an_audience_of_its_own(
    tenant: Tenant, github: Issuer
) -> None:
    """As for any issuer; it then matches beside the GitHub publishers of the same identity."""
    second = repository_get_or_create(organization=tenant.repository.organization, slug="second")
    by_claims = publisher_create(
        repository=second, actor=tenant.owner, kind=PublisherKind.OIDC, issuer=github.url,
        audience="acme-ci", required_claims={"repository": "acme-corp/app"},
    )  # fmt: skip

    own_audience = mint(github.token(github_claims("acme-ci")))

    assert own_audience.status_code == 200, own_audience.content
    assert list(_minted().get().repositories.all()) == [second]

    by_repository = _github_publisher(tenant)
    both = mint(github.token({**github_claims(AUD), "aud": [AUD, "acme-ci"]}))

    assert both.status_code == 200, both.content
    key = _minted().latest("pk")
    assert key.name == f"trusted publisher {by_claims.pk}, {by_repository.pk}"
    by_repository.refresh_from_db()
    assert (by_repository.owner_id, by_repository.ci_repository_id) == (
        GITHUB_OWNER_ID, GITHUB_REPOSITORY_ID
    )  # fmt: skip


def test_a_key_id_the_issuer_does_not_publish_is_refused_after_one_refetch(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant)
    assert mint(github.token(github_claims(AUD))).status_code == 200

    code, description = refusal(mint(github.token(github_claims(AUD), kid="made-up")))

    assert code == "invalid-token"
    assert "signed with key 'made-up', which issuer" in description
    assert github.jwks_fetches == 2  # the keys in memory, then fetched again for the new id


def test_the_keys_are_not_refetched_for_every_unknown_key_id(
    tenant: Tenant, github: Issuer, settings: Any
) -> None:
    settings.OIDC_JWKS_MIN_REFRESH = 60
    _github_publisher(tenant)
    assert mint(github.token(github_claims(AUD))).status_code == 200

    for n in range(3):
        refusal(mint(github.token(github_claims(AUD), kid=f"made-up-{n}")))

    assert github.jwks_fetches == 1


def test_an_issuer_with_one_key_may_sign_without_naming_it(tenant: Tenant, github: Issuer) -> None:
    _github_publisher(tenant)
    assert mint(github.token(github_claims(AUD), unnamed=True)).status_code == 200

    # With two keys, which one is meant cannot be guessed.
    github.rotate()
    response = mint(github.token(github_claims(AUD), unnamed=True))

    assert refusal(response) == (
        "invalid-token",
        f"The token is signed with key '', which issuer {github.url} does not publish.",
    )


def test_a_key_published_without_an_id_verifies_the_tokens_that_name_none(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant)
    unnamed = new_rsa_key()
    github.answers["/jwks"] = (200, {"keys": [*github.jwks()["keys"], public_jwk(unnamed)]})

    response = mint(github.token(github_claims(AUD), key=unnamed, unnamed=True))

    assert response.status_code == 200, response.content


def test_keys_of_a_kind_the_registry_cannot_read_are_passed_over(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant)
    unreadable = [{"kid": "odd", "kty": "unknown"}, {"kid": "half", "kty": "RSA"}]
    github.answers["/jwks"] = (200, {"keys": [*unreadable, *github.jwks()["keys"]]})

    assert mint(github.token(github_claims(AUD))).status_code == 200


def test_a_key_set_without_keys_verifies_nothing(tenant: Tenant, github: Issuer) -> None:
    _github_publisher(tenant)
    github.answers["/jwks"] = (200, {"issuer": github.url})

    response = mint(github.token(github_claims(AUD)))

    assert refusal(response) == (
        "invalid-token",
        f"The token is signed with key 'key-1', which issuer {github.url} does not publish.",
    )


def test_it_asks_the_issuer_for_json(tenant: Tenant, github: Issuer) -> None:
    _github_publisher(tenant)

    assert mint(github.token(github_claims(AUD))).status_code == 200

    # Its discovery document, then its key set.
    assert [accept.lower() for accept in github.accepts] == ["application/json"] * 2


def test_a_discovery_document_may_spell_the_issuer_with_a_trailing_slash(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant)
    github.announced = f"{github.url}/"

    assert mint(github.token(github_claims(AUD))).status_code == 200


def test_an_issuer_under_a_path_is_asked_at_its_own_well_known_address(
    tenant: Tenant, other_issuer: Issuer
) -> None:
    """As CircleCI's (`/org/<id>`): the discovery document is under the issuer's path, and
    names the issuer with it."""
    issuer = f"{other_issuer.url}/orgs/ACME-BOX"
    _oidc_publisher(tenant, issuer)
    other_issuer.answers["/orgs/ACME-BOX/.well-known/openid-configuration"] = (
        200, {**other_issuer.discovery(), "issuer": issuer}
    )  # fmt: skip

    response = mint(other_issuer.token({"iss": issuer, "sub": "pipeline:release", "aud": AUD}))

    assert response.status_code == 200, response.content


def test_a_key_set_of_up_to_a_mebibyte_is_read_whole(tenant: Tenant, github: Issuer) -> None:
    """Read in many pieces: every one counts, up to the last byte allowed."""
    _github_publisher(tenant)
    data = json.dumps(github.jwks()).encode()
    github.answers["/jwks"] = (200, Raw(data + b" " * (MAX_DOCUMENT_BYTES - len(data))))

    assert mint(github.token(github_claims(AUD))).status_code == 200


def _too_big(issuer: Issuer) -> tuple[int, Any]:
    data = json.dumps(issuer.jwks()).encode()
    return 200, Raw(data + b" " * (MAX_DOCUMENT_BYTES + 1 - len(data)))


@pytest.mark.parametrize(
    ("path", "answer", "why"),
    [
        ("/jwks", lambda issuer: (200, [issuer.jwks()]), "{url}/jwks did not answer a JSON object"),
        ("/jwks", _too_big, "{url}/jwks answered more than 1048576 bytes"),
        ("/.well-known/openid-configuration",
         lambda issuer: (200, {**issuer.discovery(), "issuer": None}),
         "its configuration names another issuer, None"),
        ("/.well-known/openid-configuration",
         lambda issuer: (302, Raw(b"", {"Location": f"{issuer.url}/jwks"})),
         "Redirect response '302 Found' for url '{url}/.well-known/openid-configuration'"),
        ("/jwks", lambda issuer: (503, {}),
         "Server error '503 Service Unavailable' for url '{url}/jwks'"),
    ],
    ids=["not an object", "too big", "no issuer", "redirect", "error"],
)  # fmt: skip
def test_an_issuer_whose_keys_cannot_be_fetched_is_refused_saying_why(
    tenant: Tenant,
    github: Issuer,
    path: str,
    answer: Callable[[Issuer], tuple[int, Any]],
    why: str,
) -> None:
    """A redirect is not followed: the issuer's own address answers, or nothing does."""
    _github_publisher(tenant)
    github.answers[path] = answer(github)

    code, description = refusal(mint(github.token(github_claims(AUD))))

    assert code == "invalid-token"
    assert description.startswith(
        f"The keys of issuer {github.url} could not be fetched ({why.format(url=github.url)}"
    )
    assert not _minted().exists()


def test_a_key_set_elsewhere_than_https_is_not_fetched(tenant: Tenant, github: Issuer) -> None:
    _github_publisher(tenant)
    github.answers["/.well-known/openid-configuration"] = (
        200, {**github.discovery(), "jwks_uri": "http://keys.example/jwks"}
    )  # fmt: skip

    response = mint(github.token(github_claims(AUD)))

    assert refusal(response) == (
        "invalid-token",
        "The issuer's key set is not usable: An issuer URL must be https.",
    )
    assert github.jwks_fetches == 0


def test_an_issuer_too_slow_to_answer_is_refused(
    tenant: Tenant, github: Issuer, settings: Any
) -> None:
    settings.OIDC_HTTP_TIMEOUT = 0.1
    _github_publisher(tenant)
    github.delay = 0.5

    code, description = refusal(mint(github.token(github_claims(AUD))))

    assert code == "invalid-token"
    assert description == f"The keys of issuer {github.url} could not be fetched (timed out)."


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_tokens_not_signed_with_an_issuer_key_are_refused(
    tenant: Tenant, github: Issuer, algorithm: str
) -> None:
    _github_publisher(tenant)
    if algorithm == "none":
        token = jwt.encode({**github_claims(AUD), "iss": github.url}, None, algorithm="none")
    else:
        token = github.token(github_claims(AUD), algorithm=algorithm)

    code, description = refusal(mint(token))

    assert code == "invalid-token"
    assert "are not accepted: use RS256 or ES256" in description


@pytest.mark.parametrize("body", ["", "not json", '{"token": 5}', '{"jwt": "x"}', "[1]"])
def test_a_request_without_a_token_is_an_invalid_payload(body: str) -> None:
    response = Client().post("/_/oidc/mint-token", body, content_type="application/json")

    assert refusal(response)[0] == "invalid-payload"


def test_a_malformed_token_is_refused(db: None) -> None:
    code, description = refusal(mint("not.a.jwt"))

    assert code == "invalid-token"
    assert description.startswith("Malformed token")


def test_the_minted_key_cannot_upload_to_another_repository(tenant: Tenant, github: Issuer) -> None:
    _github_publisher(tenant)
    repository_get_or_create(organization=tenant.repository.organization, slug="other")
    token = mint(github.token(github_claims(AUD))).json()["token"]

    response = tenant.post(_upload(), token=token, url="/acme/other/legacy/")

    assert response.status_code == 404


def test_the_minted_key_is_refused_once_expired(tenant: Tenant, github: Issuer) -> None:
    _github_publisher(tenant)
    token = mint(github.token(github_claims(AUD))).json()["token"]
    assert tenant.post(_upload(version="1.0"), token=token).status_code == 200

    with time_machine.travel(timezone.now() + timedelta(minutes=15, seconds=1)):
        response = tenant.post(_upload(version="2.0"), token=token)

    assert response.status_code == 401


def test_a_project_scoped_publisher_mints_a_key_for_that_project_only(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant, project="Demo_App")
    token = mint(github.token(github_claims(AUD))).json()["token"]

    other = tenant.post(_upload("another-lib"), token=token)
    own = tenant.post(_upload("demo.app"), token=token)

    assert other.status_code == 403
    assert "may only upload to project 'demo-app', not 'another-lib'" in other.reason_phrase
    assert own.status_code == 200, own.content


def test_a_token_matching_publishers_of_two_repositories_gets_a_key_for_both(
    tenant: Tenant, github: Issuer
) -> None:
    organization = tenant.repository.organization
    second = repository_get_or_create(organization=organization, slug="second")
    first = _github_publisher(tenant)
    other = publisher_create(
        repository=second, actor=tenant.owner, kind=PublisherKind.GITHUB,
        ci_repository="acme-corp/app", workflow="release.yml",
    )  # fmt: skip

    body = mint(github.token(github_claims(AUD))).json()

    key = _minted().get()
    assert key.name == f"trusted publisher {first.pk}, {other.pk}"
    assert set(key.repositories.all()) == {tenant.repository, second}
    assert (
        tenant.post(_upload(), token=body["token"], url="/acme/second/legacy/").status_code == 200
    )


def test_a_token_matching_publishers_of_two_organizations_is_refused(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant)
    other_org = organization_get_or_create(slug="globex", name="Globex", owner=tenant.owner)
    publisher_create(
        repository=repository_get_or_create(organization=other_org, slug="main"),
        actor=tenant.owner, kind=PublisherKind.GITHUB,
        ci_repository="acme-corp/app", workflow="release.yml",
    )  # fmt: skip

    code, description = refusal(mint(github.token(github_claims(AUD))))

    assert code == "invalid-publisher"
    assert description == (
        "valid token, but it matches trusted publishers of more than one organization; "
        "a token can only be exchanged for one organization's repositories, so remove "
        "the publisher from all but one."
    )
    assert not _minted().exists()


def test_publishers_limited_to_different_projects_are_refused_together(
    tenant: Tenant, github: Issuer
) -> None:
    second = repository_get_or_create(organization=tenant.repository.organization, slug="second")
    _github_publisher(tenant, project="one")
    publisher_create(
        repository=second, actor=tenant.owner, kind=PublisherKind.GITHUB,
        ci_repository="acme-corp/app", workflow="release.yml", project="two",
    )  # fmt: skip

    code, description = refusal(mint(github.token(github_claims(AUD))))

    assert code == "invalid-publisher"
    assert description == (
        "valid token, but its trusted publishers are limited to different projects; "
        "configure them for the same project, or for any project."
    )


def test_a_deleted_publisher_mints_nothing(tenant: Tenant, github: Issuer) -> None:
    publisher = _github_publisher(tenant)
    publisher.delete()

    code, _ = refusal(mint(github.token(github_claims(AUD))))

    assert code == "invalid-publisher"


# GitLab and other issuers ---------------------------------------------------------------------


def _oidc_publisher(tenant: Tenant, issuer: str, **fields: Any) -> TrustedPublisher:
    """A publisher by claims in the tenant's repository: by default, pipeline `release`'s."""
    fields = {"required_claims": {"sub": "pipeline:release"}, **fields}
    return publisher_create(
        repository=tenant.repository, actor=tenant.owner, kind=PublisherKind.OIDC,
        issuer=issuer, **fields,
    )  # fmt: skip


def _gitlab_publisher(tenant: Tenant, issuer: Issuer, **fields: Any) -> TrustedPublisher:
    fields = {"ci_repository": "acme/app", "issuer": issuer.url, **fields}
    return publisher_create(
        repository=tenant.repository, actor=tenant.owner, kind=PublisherKind.GITLAB, **fields
    )


def test_a_matching_gitlab_token_buys_an_upload_key(tenant: Tenant, other_issuer: Issuer) -> None:
    publisher = _gitlab_publisher(tenant, other_issuer, environment="production")
    host = urlsplit(other_issuer.url).netloc
    claims = gitlab_claims(AUD, host=host, environment="production")

    response = mint(other_issuer.token(claims))

    assert response.status_code == 200, response.content
    assert publisher.workflow == ".gitlab-ci.yml"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"project_path": "acme/other"}, "no trusted publisher is configured for this identity"),
        ({"ci_config": "ci/other.yml"}, "the CI configuration"),
        ({"host": "gitlab.example"}, "the CI configuration 'gitlab.example/acme/app//"),
        ({"environment": "staging"}, "the job's environment ('staging')"),
    ],
    ids=["project", "ci config", "other instance in the config ref", "environment"],
)
def test_each_gitlab_claim_that_does_not_match_is_refused(
    tenant: Tenant, other_issuer: Issuer, claims: dict[str, Any], reason: str
) -> None:
    _gitlab_publisher(tenant, other_issuer, environment="production")
    host = urlsplit(other_issuer.url).netloc
    claims = gitlab_claims(AUD, **{"host": host, "environment": "production", **claims})

    code, description = refusal(mint(other_issuer.token(claims)))

    assert code == "invalid-publisher"
    assert reason in description


def test_another_issuer_matches_its_required_claims_and_audience_exactly(
    tenant: Tenant, other_issuer: Issuer
) -> None:
    _oidc_publisher(
        tenant, other_issuer.url, audience="wheelhouse-ci",
        required_claims={"sub": "organization:acme:pipeline:release", "branch": "main"},
    )  # fmt: skip
    good = {"sub": "organization:acme:pipeline:release", "branch": "main", "aud": "wheelhouse-ci"}

    assert mint(other_issuer.token(good)).status_code == 200
    wrong_claim = refusal(mint(other_issuer.token({**good, "branch": "dev"})))
    missing_claim = refusal(mint(other_issuer.token({**good, "branch": None})))
    wrong_audience = refusal(mint(other_issuer.token({**good, "aud": AUD})))

    assert "the claim 'branch' ('dev') is not the value" in wrong_claim[1]
    assert "the claim 'branch' ('missing')" in missing_claim[1]
    assert wrong_audience == ("invalid-token", wrong_audience[1])
    assert "audience" in wrong_audience[1]


def test_a_refused_signed_token_is_audited_to_the_organization_it_almost_matched(
    tenant: Tenant, github: Issuer
) -> None:
    publisher = _github_publisher(tenant)

    refusal(
        mint(
            github.token(github_claims(AUD, workflow="evil.yml")), Client(REMOTE_ADDR="192.0.2.77")
        )
    )

    event = AuditEvent.objects.get(action="trusted_publisher.refused")
    assert event.organization == tenant.repository.organization
    assert event.source_ip == "192.0.2.77"
    assert event.details["publishers"][0]["id"] == publisher.pk
    assert "evil.yml" in event.details["publishers"][0]["reason"]
    assert event.details["claims"]["repository"] == "acme-corp/app"


def test_a_mint_is_audited_with_what_the_key_covers_and_where_the_token_came_from(
    tenant: Tenant, github: Issuer
) -> None:
    publisher = _github_publisher(tenant, project="demo-app")

    response = mint(github.token(github_claims(AUD)), Client(REMOTE_ADDR="192.0.2.8"))

    assert response.status_code == 200, response.content
    key = _minted().get()
    event = AuditEvent.objects.get(action="trusted_publisher.mint")
    assert event.source_ip == "192.0.2.8"
    assert event.details["publishers"] == [
        {"id": publisher.pk, "publisher": "acme-corp/app, workflow release.yml, project demo-app"}
    ]
    assert event.details["repositories"] == ["main"]
    assert event.details["project"] == "demo-app"
    assert event.details["expires_at"] == key.expires_at.isoformat()
    created = AuditEvent.objects.get(action="api_key.create", target=f"key {key.public_id}")
    assert created.source_ip == "192.0.2.8"


def test_a_refusal_is_audited_to_each_organization_with_its_own_publishers_only(
    tenant: Tenant, github: Issuer
) -> None:
    """And the holder is told every reason, once each."""
    ours = _github_publisher(tenant, environment="release")
    globex = organization_get_or_create(slug="globex", name="Globex", owner=tenant.owner)
    theirs = publisher_create(
        repository=repository_get_or_create(organization=globex, slug="tools"),
        actor=tenant.owner, kind=PublisherKind.GITHUB,
        ci_repository="acme-corp/app", workflow="publish.yml",
    )  # fmt: skip

    code, description = refusal(mint(github.token(github_claims(AUD, environment="staging"))))

    assert code == "invalid-publisher"
    assert description == (
        "valid token, but no corresponding publisher (the job's environment ('staging') is not "
        "the one the trusted publisher of acme-corp/app requires; the workflow "
        "'acme-corp/app/.github/workflows/release.yml@refs/heads/main' (job_workflow_ref) is "
        "not the one the trusted publisher of acme-corp/app trusts)"
    )
    events = {
        event.organization_id: event
        for event in AuditEvent.objects.filter(action="trusted_publisher.refused")
    }
    acme = tenant.repository.organization_id
    assert set(events) == {acme, globex.pk}
    assert events[acme].target == "repository acme/main"
    assert [p["id"] for p in events[acme].details["publishers"]] == [ours.pk]
    assert events[globex.pk].target == "repository globex/tools"
    assert [p["id"] for p in events[globex.pk].details["publishers"]] == [theirs.pk]


@pytest.mark.parametrize("kind", [PublisherKind.OIDC, PublisherKind.GITLAB])
def test_a_token_never_matches_a_publisher_of_another_issuer(
    tenant: Tenant, other_issuer: Issuer, kind: PublisherKind
) -> None:
    """Even carrying exactly the claims that publisher's issuer would sign."""
    claims = gitlab_claims(AUD, host=urlsplit(other_issuer.url).netloc)
    if kind == PublisherKind.GITLAB:
        _gitlab_publisher(tenant, other_issuer)
    else:
        publisher_create(
            repository=tenant.repository, actor=tenant.owner, kind=kind,
            issuer=other_issuer.url, required_claims={"sub": claims["sub"]},
        )  # fmt: skip
    assert mint(other_issuer.token(claims)).status_code == 200
    globex = organization_get_or_create(slug="globex", name="Globex", owner=tenant.owner)
    with Issuer() as impostor:
        publisher_create(
            repository=repository_get_or_create(organization=globex, slug="main"),
            actor=tenant.owner, kind=PublisherKind.OIDC, issuer=impostor.url,
            required_claims={"sub": "pipeline:globex"},
        )  # fmt: skip

        code, _ = refusal(mint(impostor.token(claims)))

    assert code == "invalid-publisher"
    assert _minted().count() == 1
    assert not AuditEvent.objects.filter(
        action="trusted_publisher.refused", organization=tenant.repository.organization
    ).exists()


def test_a_token_for_one_publishers_audience_does_not_match_another_of_its_issuer(
    tenant: Tenant, other_issuer: Issuer
) -> None:
    second = repository_get_or_create(organization=tenant.repository.organization, slug="second")
    for repository, audience, pipeline in [
        (tenant.repository, "main-ci", "release"),
        (second, "second-ci", "nightly"),
    ]:
        publisher_create(
            repository=repository, actor=tenant.owner, kind=PublisherKind.OIDC,
            issuer=other_issuer.url, audience=audience,
            required_claims={"sub": f"pipeline:{pipeline}"},
        )  # fmt: skip

    code, description = refusal(
        mint(other_issuer.token({"sub": "pipeline:release", "aud": "second-ci"}))
    )

    assert code == "invalid-publisher"
    assert description == (
        "valid token, but no corresponding publisher (the claim 'sub' ('pipeline:release') is "
        f"not the value a trusted publisher of {other_issuer.url} requires; the token's "
        "audience (aud) is not the one its trusted publisher requires)"
    )
    assert not _minted().exists()


def test_a_forged_token_learns_nothing_about_which_repositories_have_publishers(
    tenant: Tenant, github: Issuer
) -> None:
    """The signature is checked before any lookup by repository: configured or not, a
    token the issuer did not sign gets the same answer."""
    _github_publisher(tenant)
    forger = new_rsa_key()

    configured = refusal(mint(github.token(github_claims(AUD), key=forger)))
    unconfigured = refusal(
        mint(github.token(github_claims(AUD, repository="someone/else"), key=forger))
    )

    assert configured == unconfigured
    assert not AuditEvent.objects.filter(action="trusted_publisher.refused").exists()


@contextmanager
def _publishers_loaded() -> Iterator[list[TrustedPublisher]]:
    """The publishers read from the database meanwhile."""
    loaded: list[TrustedPublisher] = []

    def record(sender: Any, instance: TrustedPublisher, **kwargs: Any) -> None:
        loaded.append(instance)

    post_init.connect(record, sender=TrustedPublisher)
    try:
        yield loaded
    finally:
        post_init.disconnect(record, sender=TrustedPublisher)


def test_a_mint_reads_only_the_publishers_its_token_could_be_about(
    tenant: Tenant, github: Issuer, other_issuer: Issuer
) -> None:
    """Not the other publishers of its issuer: they are as many as the tenants using it."""
    ours_on_github = _github_publisher(tenant)
    ours_on_gitlab = _gitlab_publisher(tenant, other_issuer)
    globex = organization_get_or_create(slug="globex", name="Globex", owner=tenant.owner)
    theirs = repository_get_or_create(organization=globex, slug="main")
    others: list[tuple[PublisherKind, dict[str, Any]]] = [
        (PublisherKind.GITHUB, {"ci_repository": "globex/app", "workflow": "release.yml"}),
        # A GitLab project of the same path as our GitHub repository.
        (PublisherKind.GITLAB, {"ci_repository": "acme-corp/app", "issuer": other_issuer.url}),
    ]
    for kind, fields in others:
        publisher_create(repository=theirs, actor=tenant.owner, kind=kind, **fields)
    gitlab_token = other_issuer.token(gitlab_claims(AUD, host=urlsplit(other_issuer.url).netloc))

    with _publishers_loaded() as for_github:
        assert mint(github.token(github_claims(AUD))).status_code == 200
    with _publishers_loaded() as for_gitlab:
        assert mint(gitlab_token).status_code == 200

    assert for_github == [ours_on_github]
    assert for_gitlab == [ours_on_gitlab]


def test_a_mint_costs_a_fixed_number_of_queries(
    tenant: Tenant, github: Issuer, django_assert_num_queries: Any
) -> None:
    _github_publisher(tenant)
    for n in range(5):  # other tenants' publishers are never loaded
        other = organization_get_or_create(slug=f"other{n}", name="O", owner=tenant.owner)
        publisher_create(
            repository=repository_get_or_create(organization=other, slug="main"),
            actor=tenant.owner, kind=PublisherKind.GITHUB,
            ci_repository=f"other/app{n}", workflow="release.yml",
        )  # fmt: skip
    assert mint(github.token(github_claims(AUD))).status_code == 200  # keys fetched

    # Publishers (2), the used token (2, with savepoints), the key as api_key_create makes
    # it, and the audit: the same whatever else is stored.
    with django_assert_num_queries(22):
        assert mint(github.token(github_claims(AUD))).status_code == 200


def test_the_rest_api_upload_keeps_a_minted_key_to_its_project(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant, project="demo-app")
    token = mint(github.token(github_claims(AUD))).json()["token"]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    package = Package("another-lib", "1.0")
    content = SimpleUploadedFile(wheel_filename(package), wheel_bytes(package))

    response = api.post("/api/v1/orgs/acme/repos/main/files/", {"content": content})

    assert response.status_code == 403
    # The name as the upload gave it (here from the wheel's filename).
    assert response.json()["error"]["message"] == (
        "This token may only upload to project 'demo-app', not 'another_lib' (its trusted "
        "publisher is limited to that project)."
    )


def test_an_issuer_whose_discovery_document_names_another_issuer_is_not_trusted(
    tenant: Tenant, github: Issuer
) -> None:
    _github_publisher(tenant)
    github.announced = "https://token.actions.githubusercontent.com"

    code, description = refusal(mint(github.token(github_claims(AUD))))

    assert code == "invalid-token"
    assert description == (
        f"The keys of issuer {github.url} could not be fetched (its configuration names "
        "another issuer, https://token.actions.githubusercontent.com)."
    )
    assert github.jwks_fetches == 0


def test_an_issuer_signing_with_es256_is_accepted(tenant: Tenant, settings: Any) -> None:
    settings.OIDC_ALLOW_INSECURE_LOOPBACK_ISSUERS = True
    with Issuer(elliptic=True) as issuer:
        _oidc_publisher(tenant, issuer.url)

        accepted = mint(issuer.token({"sub": "pipeline:release", "aud": AUD}))
        other_curve_key = mint(issuer.token({"sub": "pipeline:release", "aud": AUD},
                                            key=new_ec_key()))  # fmt: skip

    assert accepted.status_code == 200, accepted.content
    assert "signature does not verify" in refusal(other_curve_key)[1]
