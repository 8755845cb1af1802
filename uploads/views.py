"""The legacy upload endpoint that twine, uv, poetry, pdm, hatch and flit POST to."""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest
from django.http import HttpResponse
from django.http import QueryDict
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from accounts.network import client_ip
from registry.access import require_repository_key
from registry.responses import error_response
from registry.responses import wants_json
from uploads import services
from uploads.handlers import HashingUploadHandler
from uploads.handlers import RawFilenameParser
from uploads.validation import UploadError
from uploads.validation import parse_upload_form


@csrf_exempt
@require_repository_key(upload=True)
def upload(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        response = error_response(
            405, "This is the upload URL: POST files here; install from the /simple/ URL."
        )
        response["Allow"] = "POST"
        return response
    as_json = wants_json(request)
    repository = request.repository
    handler = HashingUploadHandler(request, max_size=repository.upload_size_limit)
    if request.content_type != "multipart/form-data":
        return error_response(
            400, "Upload payload does not have a file: send multipart/form-data.", as_json=as_json
        )
    parser = RawFilenameParser(request.META, request, [handler], request.encoding)
    try:
        fields, files = parser.parse()
        content = files.get("content")
    except MultiPartParserError as exc:
        return error_response(400, f"Malformed upload request: {exc}", as_json=as_json)
    if handler.exceeded:
        return error_response(
            413,
            f"File too large. Limit for repository '{repository}' is "
            f"{_size(repository.upload_size_limit)}.",
            as_json=as_json,
        )
    try:
        return _receive(request, fields, content, parser, handler, as_json=as_json)
    finally:
        # Django closes (and so deletes) the temporary files of request.FILES; these are ours.
        for uploaded in files.values():
            uploaded.close()


def _receive(
    request: HttpRequest,
    fields: QueryDict,
    content: UploadedFile | None,
    parser: RawFilenameParser,
    handler: HashingUploadHandler,
    *,
    as_json: bool,
) -> HttpResponse:
    try:
        form = parse_upload_form(_with_query_action(fields, request))
        if content is None or "content" not in handler.digests:
            raise UploadError(400, "Upload payload does not have a file.")
        services.upload_receive(
            repository=request.repository,
            api_key=request.api_key,
            form=form,
            content=content,
            filename=parser.raw_file_names.get(content.name or "", content.name or ""),
            digests=handler.digests["content"],
            source_ip=client_ip(request),
        )
    except UploadError as exc:
        return error_response(exc.status, exc.message, as_json=as_json)
    return HttpResponse(status=200)


def _size(limit: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if limit >= scale:
            return f"{limit / scale:.4g} {unit}"
    return f"{limit} bytes"


def _with_query_action(fields: QueryDict, request: HttpRequest) -> QueryDict:
    # Warehouse routes on `:action` from the body or the query string.
    if ":action" in fields or ":action" not in request.GET:
        return fields
    merged = fields.copy()
    merged[":action"] = request.GET[":action"]
    return merged


def oidc_not_supported(request: HttpRequest, rest: str = "") -> HttpResponse:
    """uv and pdm probe `/_/oidc/audience` at the upload host before asking for credentials;
    a 404 tells them trusted publishing is not offered here."""
    return error_response(
        404,
        "Trusted publishing is not supported here: upload with an API key.",
        as_json=wants_json(request),
    )
