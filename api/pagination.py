from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class Pages(PageNumberPagination):
    """Numbered pages; every list is ordered with a unique last key, so pages never overlap."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
