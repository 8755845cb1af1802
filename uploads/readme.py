"""A release's README as sanitised HTML, rendered the way PyPI renders it. Pure."""

from __future__ import annotations

from email.message import Message

import nh3
from readme_renderer.clean import ALLOWED_ATTRIBUTES
from readme_renderer.clean import ALLOWED_TAGS


def readme_render(description: str | None, content_type: str | None) -> str:
    """HTML for `description`. readme-renderer cleans its output with nh3, so scripts, event
    handlers and javascript: links never reach the page. reStructuredText that does not
    render is shown as plain text rather than refused: the file was accepted by its tools."""
    if not description or not description.strip():
        return ""
    # Imported on first use: docutils, pygments and markdown weigh about 7 MB, and only the
    # worker renders READMEs, while every web process imports this module (uploads enqueue).
    import readme_renderer.markdown  # noqa: PLC0415
    import readme_renderer.rst  # noqa: PLC0415
    import readme_renderer.txt  # noqa: PLC0415

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
    return _without_remote_images(html or "")


def _without_remote_images(html: str) -> str:
    """Images lose their source and keep their alt text: a README must not make every
    reader's browser report to a server of the author's choosing (tracking pixels), and
    images are all remote here (readme-renderer already drops data: URLs)."""
    if "<img" not in html:
        return html
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        link_rel="nofollow",
        url_schemes={"http", "https", "mailto"},
        attribute_filter=_drop_image_source,
    )


def _drop_image_source(tag: str, attribute: str, value: str) -> str | None:
    return None if tag == "img" and attribute == "src" else value


def _parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    message = Message()
    message["Content-Type"] = value
    params = {k.lower(): v for k, v in message.get_params(failobj=[])[1:]}
    return message.get_content_type(), params
