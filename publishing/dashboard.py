"""The trusted publishers section of a repository's settings page: adding and removing them.
The section itself renders through the `trusted_publishers` tag (publishing.templatetags), so
the registry's settings page needs no import from here."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.dashboard.http import AuthenticatedRequest
from accounts.network import client_ip
from accounts.permissions import Action
from publishing import selectors
from publishing import services
from publishing.forms import PublisherForm
from registry.selectors import repository_for


def _back(org: str, repo: str) -> HttpResponse:
    return redirect(reverse("repo-edit", kwargs={"org": org, "repo": repo}) + "#publishers")


def _form_problems(form: PublisherForm) -> str:
    return " ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in form.errors.items())


@login_required
@require_POST
def publisher_add(request: AuthenticatedRequest, org: str, repo: str) -> HttpResponse:
    repository = repository_for(
        actor=request.user, org=org, repo=repo, action=Action.MANAGE_REPOSITORIES
    )
    form = PublisherForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Trusted publisher not added. {_form_problems(form)}")
        return _back(org, repo)
    try:
        publisher = services.publisher_create(
            repository=repository,
            actor=request.user,
            source_ip=client_ip(request),
            **form.options(),
        )
    except ValidationError as exc:
        messages.error(request, "Trusted publisher not added. " + " ".join(exc.messages))
    else:
        messages.success(request, f"Trusted publisher added: {publisher}.")
    return _back(org, repo)


@login_required
@require_POST
def publisher_remove(
    request: AuthenticatedRequest, org: str, repo: str, publisher_id: int
) -> HttpResponse:
    repository = repository_for(
        actor=request.user, org=org, repo=repo, action=Action.MANAGE_REPOSITORIES
    )
    publisher = selectors.publisher_for(
        actor=request.user, repository=repository, publisher_id=publisher_id
    )
    services.publisher_delete(publisher=publisher, actor=request.user, source_ip=client_ip(request))
    messages.success(request, f"Trusted publisher removed: {publisher}.")
    return _back(org, repo)
