"""The legacy upload endpoint that twine, uv, poetry, pdm, hatch and flit POST to."""

from __future__ import annotations

from django.http import HttpRequest
from django.http import HttpResponse
from django.http import QueryDict
from django.views.decorators.csrf import csrf_exempt

from accounts.network import client_ip
from core.http import error_response
from core.http import wants_json
from registry.index.access import RepositoryRequest
from registry.index.access import require_repository_key
from registry.links import url_without_credentials
from registry.models import Repository
from registry.models import RepositoryKind
from registry.selectors import upload_repository
from uploads import services
from uploads.errors import UploadError
from uploads.validation import parse_upload_form
from uploads.web import received_upload
from uploads.web import refuse_browsers
from uploads.web import upload_status


@csrf_exempt
@refuse_browsers
@require_repository_key(upload=True)
def upload(request: RepositoryRequest) -> HttpResponse:
    if request.method != "POST":
        response = error_response(
            405, "This is the upload URL: POST files here; install from the /simple/ URL."
        )
        response["Allow"] = "POST"
        return response
    # A virtual repository's uploads land in its upload target; a proxy takes none.
    repository = upload_repository(repository=request.repository)
    if repository is None:
        return error_response(
            400, _no_uploads_here(request.repository), as_json=wants_json(request)
        )
    api_key = request.api_key
    assert api_key is not None  # uploads never take a session (require_repository_key)
    try:
        with received_upload(request, repository) as body:
            form = parse_upload_form(_with_query_action(body.fields, request))
            services.upload_receive(
                repository=repository,
                api_key=api_key,
                form=form,
                content=body.file(),
                filename=body.filename,
                digests=body.digests,
                source_ip=client_ip(request),
            )
    except UploadError as exc:
        return error_response(upload_status(exc), exc.message, as_json=wants_json(request))
    return HttpResponse(status=200)


def _no_uploads_here(repository: Repository) -> str:
    name = f"{repository.organization.slug}/{repository.slug}"
    if repository.kind == RepositoryKind.PROXY:
        upstream = url_without_credentials(repository.upstream_url)
        return (
            f"'{name}' is a proxy of {upstream} and takes no uploads; "
            "upload to a hosted repository."
        )
    return (
        f"'{name}' is a virtual repository without an upload target; upload to one of its "
        "hosted members, or have an admin choose its upload target."
    )


def _with_query_action(fields: QueryDict, request: HttpRequest) -> QueryDict:
    # Warehouse routes on `:action` from the body or the query string.
    if ":action" in fields or ":action" not in request.GET:
        return fields
    merged = fields.copy()
    merged[":action"] = request.GET[":action"]
    return merged


def oidc_not_supported(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other `/_/oidc/` URL: trusted publishing is `/_/oidc/audience` and
    `/_/oidc/mint-token` only, for every issuer (publishing.views)."""
    return error_response(
        404,
        "Not a trusted publishing endpoint: use /_/oidc/audience and /_/oidc/mint-token.",
        as_json=wants_json(request),
    )
