"""READMEs as the dashboard shows them: sanitised, and fetching nothing from elsewhere."""

from __future__ import annotations

import pytest

from uploads.readme import readme_render

PIXEL = "https://tracker.example/pixel.gif?reader=1"


@pytest.mark.parametrize(
    ("text", "content_type"),
    [
        (f"# Title\n\n![build status]({PIXEL}) and more", "text/markdown"),
        (f'<p>raw <img src="{PIXEL}" alt="build status"></p>', "text/markdown"),
        (f"Title\n=====\n\n.. image:: {PIXEL}\n   :alt: build status\n", "text/x-rst"),
    ],
    ids=["markdown", "raw-html", "rst"],
)
def test_it_keeps_no_remote_image_source_in_a_rendered_readme(text: str, content_type: str) -> None:
    html = readme_render(text, content_type)

    assert "tracker.example" not in html
    assert 'alt="build status"' in html


def test_it_keeps_links_and_formatting_around_images() -> None:
    html = readme_render(f"**bold** [docs](https://docs.example/) ![x]({PIXEL})", "text/markdown")

    assert "<strong>bold</strong>" in html
    assert 'href="https://docs.example/"' in html
    assert 'rel="nofollow"' in html
