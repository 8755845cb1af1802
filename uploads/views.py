"""The legacy upload endpoint that twine, uv, poetry, pdm, hatch and flit POST to."""

from __future__ import annotations

from django.http import HttpRequest
from django.http import HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from registry.access import require_repository_key
from registry.responses import error_response
from uploads import services
from uploads.handlers import HashingUploadHandler
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
    repository = request.repository
    handler = HashingUploadHandler(request, max_size=repository.upload_size_limit)
    request.upload_handlers = [handler]
    try:
        fields, content = request.POST, request.FILES.get("content")
    except MultiPartParserError as exc:
        return error_response(400, f"Malformed upload request: {exc}")
    if handler.exceeded:
        limit_mb = repository.upload_size_limit // (1024 * 1024)
        return error_response(
            413, f"File too large. Limit for repository '{repository}' is {limit_mb} MB."
        )
    try:
        form = parse_upload_form(fields)
        if content is None or "content" not in handler.digests:
            raise UploadError(400, "Upload payload does not have a file.")
        services.upload_receive(
            repository=repository,
            api_key=request.api_key,
            form=form,
            content=content,
            digests=handler.digests["content"],
        )
    except UploadError as exc:
        return error_response(exc.status, exc.message)
    return HttpResponse(status=200)
