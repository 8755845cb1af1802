"""A release's README as sanitised HTML, rendered the way PyPI renders it. Pure."""

from __future__ import annotations

from email.message import Message

import readme_renderer.markdown
import readme_renderer.rst
import readme_renderer.txt


def readme_render(description: str | None, content_type: str | None) -> str:
    """HTML for `description`. readme-renderer cleans its output with nh3, so scripts, event
    handlers and javascript: links never reach the page. reStructuredText that does not
    render is shown as plain text rather than refused: the file was accepted by its tools."""
    if not description or not description.strip():
        return ""
    media_type, params = _parse_content_type(content_type or "text/x-rst")
    if media_type == "text/markdown":
        variant = params.get("variant", "GFM")
        html = readme_renderer.markdown.render(description, variant=variant)
    elif media_type == "text/plain":
        html = readme_renderer.txt.render(description)
    else:
        html = readme_renderer.rst.render(description)
    if html is None:
        html = readme_renderer.txt.render(description)
    return html or ""


def _parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    message = Message()
    message["Content-Type"] = value
    params = {k.lower(): v for k, v in message.get_params(failobj=[])[1:]}
    return message.get_content_type(), params
