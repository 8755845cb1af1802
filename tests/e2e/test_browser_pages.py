"""The dashboard's pages in Chromium at 1280 and 390 pixels, on the embedded stack as
`make run` starts it: what a person sees of issue 16's items (project status, the pypi.org-like
project and version pages, package lists and search, the key form's dead ends, the API
reference under the CSP, styled error pages, tables on a phone), and an axe-core run on every
page with no serious or critical violation.

Screenshots go to test-artifacts/pages/ (`<page>-1280.png`, `<page>-390.png`). axe-core
comes from npm: `npm install --prefix tests/e2e/axe` (node_modules is not committed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.e2e.seed_dashboard import PASSWORD
from tests.services import PROJECT_ROOT
from tests.services import EmbeddedStack

pytestmark = pytest.mark.e2e

SHOTS = PROJECT_ROOT / "test-artifacts" / "pages"
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (1280, 390)
INSTALLERS = ("pip", "uv", "poetry", "pdm")
ORG = "/orgs/acme"
REPO = f"{ORG}/repos/main"
PROJECT = f"{REPO}/projects/acme-utils/"
# Every dashboard page a member reaches, by the name its screenshots take.
PAGES = {
    "org": f"{ORG}/",
    "package-list": f"{REPO}/",
    "search": f"{ORG}/search/?q=acme",
    "project": PROJECT,
    "version": f"{PROJECT}versions/0.2.0/",
    "connect": f"{REPO}/connect/",
    "keys": f"{ORG}/keys/",
    "members": f"{ORG}/members/",
    "audit": f"{ORG}/audit/",
    "settings": f"{REPO}/settings/",
    "downloads": f"{PROJECT}downloads/",
    "retention": f"{REPO}/retention/",
    "not-found": "/orgs/acme/repos/nope/",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    live = EmbeddedStack(tmp_path_factory.mktemp("pages"))
    try:
        live.start()
        live.manage("shell", "-c", "from tests.e2e.seed_dashboard import seed; seed()")
        yield live
    finally:
        live.stop()


def logged_in(
    browser: Browser, stack: EmbeddedStack, who: str, width: int = 1280, *, axe: bool = False
) -> tuple[BrowserContext, Page]:
    # axe is injected as an inline script, which the CSP forbids: only those runs bypass it.
    context = browser.new_context(
        base_url=stack.base_url, viewport={"width": width, "height": 900}, bypass_csp=axe
    )
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(f"{who}@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    return context, page


def shoot(page: Page, name: str, width: int) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every violation axe-core finds on the page (WCAG 2 A/AA and best practice), any impact."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}))"""
    )
    return found


def no_wide_tables(page: Page) -> list[str]:
    """Tables wider than their frame (a column cut off, or to be scrolled to) on this page."""
    return page.evaluate(
        """() => [...document.querySelectorAll(".table-wrap")]
            .filter(w => w.scrollWidth > w.clientWidth + 1)
            .map(w => (w.querySelector("th") || w).textContent.trim())"""
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_has_no_serious_accessibility_violation(
    browser: Browser, stack: EmbeddedStack, width: int
) -> None:
    assert AXE.exists(), "run: npm install --prefix tests/e2e/axe"
    context, page = logged_in(browser, stack, "owner", width, axe=True)
    report = {}
    for name, path in PAGES.items():
        page.goto(path)
        shoot(page, name, width)
        report[name] = axe_violations(page)
    context.close()
    # And what a visitor sees before logging in.
    anonymous = browser.new_context(
        base_url=stack.base_url, viewport={"width": width, "height": 900}, bypass_csp=True
    )
    visitor = anonymous.new_page()
    for name, path in {"login": "/accounts/login/", "signup": "/accounts/signup/"}.items():
        visitor.goto(path)
        shoot(visitor, name, width)
        report[name] = axe_violations(visitor)
    anonymous.close()
    # All of them are kept for review; serious and critical ones fail the test.
    (SHOTS / f"axe-{width}.json").write_text(json.dumps(report, indent=2))
    serious = {
        name: [v for v in found if v["impact"] in {"serious", "critical"}]
        for name, found in report.items()
    }
    assert {name: found for name, found in serious.items() if found} == {}


def test_the_project_page_shows_what_the_release_is_about(
    browser: Browser, stack: EmbeddedStack
) -> None:
    for width in WIDTHS:
        context, page = logged_in(browser, stack, "reader", width)
        page.goto(PROJECT)
        about = page.get_by_role("complementary", name="About this project")
        # 2.0.0b1 is a pre-release and 0.2.0 yanked: the latest is 1.0.0, as on pypi.org.
        expect(about.locator("dd").first).to_have_text("1.0.0")
        expect(about).to_contain_text("MIT")
        expect(about.get_by_role("link", name="Documentation")).to_have_attribute(
            "href", "https://docs.acme.test/utils"
        )
        # A dependency that lives in the organization links to its page.
        about.get_by_role("link", name="acme-core").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("acme-core")
        page.go_back()
        history = page.locator("ol.history")
        expect(history.locator("li", has_text="2.0.0b1")).to_contain_text("pre-release")
        expect(history.locator("li", has_text="0.2.0")).to_contain_text("yanked")
        expect(page.locator("#install-pip")).to_have_text(
            f"pip install --index-url {stack.base_url}/acme/main/simple/ acme-utils==1.0.0"
        )
        page.get_by_text("Hashes").first.click()
        expect(page.locator("code.hash").first).to_be_visible()
        assert no_wide_tables(page) == []
        history.get_by_role("link", name="0.2.0").click()
        expect(page.locator("main")).to_contain_text("You are looking at 0.2.0, a yanked release")
        expect(page.locator("main")).to_contain_text("Yanked: Broken on Windows")
        assert no_wide_tables(page) == []
        context.close()


def test_the_downloads_chart_draws_versions_and_installers_beside_its_table(
    browser: Browser, stack: EmbeddedStack
) -> None:
    for width in WIDTHS:
        context, page = logged_in(browser, stack, "reader", width)
        page.goto(PROJECT)
        card = page.locator("#project-downloads")
        # Seeded: 0.1.0 and 1.0.0 downloaded today, 0.2.0 never.
        expect(card.locator("tr", has_text="0.2.0")).to_contain_text("never")
        expect(card.locator("tr", has_text="1.0.0")).not_to_contain_text("never")
        card.get_by_role("link", name="Downloads chart").click()
        chart = page.get_by_role("img", name="Downloads per day by version")
        expect(chart).to_be_visible()
        assert page.locator("#downloads-chart rect").count() >= 60
        table = page.locator("#downloads-table")
        expect(table.locator("tbody tr")).to_have_count(3)
        expect(table).to_contain_text("2.0.0b1")
        shoot(page, "downloads-by-version", width)
        page.get_by_role("link", name="By installer").click()
        expect(page.get_by_role("img", name="Downloads per day by installer")).to_be_visible()
        expect(table.locator("tbody th")).to_have_count(4)
        assert set(table.locator("tbody th").all_text_contents()) == set(INSTALLERS)
        page.get_by_role("link", name="Last 90 days").click()
        expect(page.locator("#chart-title")).to_contain_text("last 90 days")
        shoot(page, "downloads-by-installer-90", width)
        assert no_wide_tables(page) == []
        context.close()


def test_owners_archive_and_reactivate_a_project_seen_in_the_list(
    browser: Browser, stack: EmbeddedStack
) -> None:
    context, page = logged_in(browser, stack, "owner")
    page.goto(f"{REPO}/projects/svc-lib-1/")
    page.get_by_label("Status", exact=True).select_option("archived")
    page.get_by_label("Reason", exact=True).fill("Merged into acme-utils")
    page.get_by_role("button", name="Set status").click()
    expect(page.locator("#project-status")).to_contain_text(
        "This project is archived: it takes no new uploads"
    )
    expect(page.locator("#project-status")).to_contain_text("Reason: Merged into acme-utils")
    shoot(page, "project-archived", 1280)
    page.goto(f"{REPO}/")
    row = page.locator("tr", has_text="svc-lib-1")
    expect(row.locator(".badge")).to_have_text("archived")
    page.goto(f"{REPO}/projects/svc-lib-1/")
    page.get_by_label("Status", exact=True).select_option("active")
    page.get_by_role("button", name="Set status").click()
    expect(page.locator("#project-status")).to_have_count(0)
    context.close()
    # A reader sees the status of a project, but no form to change it.
    reader_context, reader = logged_in(browser, stack, "reader")
    reader.goto(f"{REPO}/projects/svc-lib-1/")
    expect(reader.get_by_role("button", name="Set status")).to_have_count(0)
    reader_context.close()


def test_a_reader_makes_a_key_with_the_forms_defaults_and_a_reload_makes_no_second(
    browser: Browser, stack: EmbeddedStack
) -> None:
    context, page = logged_in(browser, stack, "reader", 390)
    page.goto(f"{ORG}/keys/")
    expect(page.get_by_label("Personal")).to_have_count(0)
    expect(page.get_by_label("Scope").locator("option")).to_have_count(1)
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Your new API key")
    secret = page.locator("#new-key").text_content() or ""
    assert secret.startswith("whk_")
    shoot(page, "key-created", 390)
    page.reload()
    expect(page.locator(".messages")).to_contain_text("shown only once")
    assert secret not in page.content()
    expect(page.locator("tr", has_text="laptop")).to_have_count(1)
    # The same name again is a form error beside the form, not a second key.
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator(".errorlist")).to_contain_text("A key named 'laptop' already exists")
    page.locator("tr", has_text="laptop").get_by_role("button", name="Revoke").click()
    expect(page.locator("tr.revoked", has_text="laptop")).to_contain_text("revoked")
    shoot(page, "keys-revoked", 390)
    context.close()


def test_the_api_reference_renders_under_the_csp(browser: Browser, stack: EmbeddedStack) -> None:
    context, page = logged_in(browser, stack, "member")
    blocked: list[str] = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{ORG}/")
    page.get_by_role("link", name="REST API reference").click()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Wheelhouse API")
    expect(
        page.get_by_text("/api/v1/orgs/{org}/repos/{repo}/projects/{project}/status/")
    ).to_be_visible()
    shoot(page, "api-docs", 1280)
    assert blocked == []
    context.close()


def test_error_pages_are_styled_and_lead_home(browser: Browser, stack: EmbeddedStack) -> None:
    for width in WIDTHS:
        context, page = logged_in(browser, stack, "reader", width)
        page.goto("/orgs/acme/repos/nope/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Nothing here")
        shoot(page, "error-404", width)
        page.goto(f"{REPO}/settings/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your role does not allow this")
        shoot(page, "error-403", width)
        # A form whose token has gone (logged out elsewhere, cookies cleared).
        page.goto(f"{ORG}/keys/")
        context.clear_cookies(name="csrftoken")
        page.get_by_label("Name").fill("stale")
        page.get_by_role("button", name="Create key").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")
        assert "DEBUG" not in page.content()
        shoot(page, "error-csrf", width)
        page.get_by_role("link", name="Go to your organizations").click()
        expect(page).not_to_have_url(f"{stack.base_url}/orgs/acme/keys/")
        context.close()


def test_package_lists_and_search_fit_a_phone(browser: Browser, stack: EmbeddedStack) -> None:
    for width in WIDTHS:
        context, page = logged_in(browser, stack, "member", width)
        page.goto(f"{ORG}/")
        page.get_by_role("searchbox", name="Search all repositories of Acme").fill("core")
        page.get_by_role("button", name="Search").click()
        row = page.locator("tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("acme-core")
        expect(row).to_contain_text("The core of Acme")
        expect(row).to_contain_text("internal")
        assert no_wide_tables(page) == []
        page.goto(f"{REPO}/")
        utils = page.locator("tr", has_text="acme-utils")
        expect(utils).to_contain_text("1.0.0")
        expect(utils).to_contain_text("Small helpers for Acme services")
        assert no_wide_tables(page) == []
        context.close()


def test_the_audit_log_reads_in_words_and_downloads_as_csv(
    browser: Browser, stack: EmbeddedStack
) -> None:
    for width in WIDTHS:
        context, page = logged_in(browser, stack, "owner", width)
        page.goto(f"{ORG}/audit/")
        expect(page.locator("tbody")).to_contain_text("Repository created")
        expect(page.locator("tbody")).to_contain_text("Release yanked")
        page.get_by_label("Action").select_option("release.yank")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("tbody tr")).to_have_count(1)
        with page.expect_download() as download:
            page.get_by_role("link", name="Download CSV").click()
        saved = download.value.path()
        lines = Path(saved).read_text().splitlines()
        assert lines[0].startswith("time_utc,actor,action,action_label")
        assert len(lines) == 2
        assert "Release yanked" in lines[1]
        assert no_wide_tables(page) == []
        shoot(page, "audit-filtered", width)
        context.close()


def test_an_invitation_link_can_be_passed_on_and_explains_itself(
    browser: Browser, stack: EmbeddedStack
) -> None:
    context, page = logged_in(browser, stack, "owner")
    page.goto(f"{ORG}/members/")
    page.get_by_label("Email").fill("newcomer@acme.test")
    page.get_by_role("button", name="Send invitation").click()
    notice = page.locator(".messages li", has_text="Send this link yourself")
    expect(notice).to_be_visible()
    link = (notice.text_content() or "").split("Send this link yourself: ")[1].strip()
    context.close()
    stranger = browser.new_context(viewport={"width": 390, "height": 900})
    visitor = stranger.new_page()
    visitor.goto(link)
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Join Acme")
    expect(visitor.locator("main")).to_contain_text("newcomer@acme.test was invited to join Acme")
    shoot(visitor, "invitation-anonymous", 390)
    visitor.get_by_role("link", name="Log in to accept").click()
    expect(visitor).to_have_url(
        f"{stack.base_url}/accounts/login/?next={link.split(stack.base_url)[1]}"
    )
    stranger.close()


def _serious(page: Page) -> list[dict[str, Any]]:
    return [v for v in axe_violations(page) if v["impact"] in {"serious", "critical"}]


@pytest.mark.parametrize("width", WIDTHS)
def test_renaming_shows_the_urls_that_change_and_the_old_ones_redirect_people(
    browser: Browser, stack: EmbeddedStack, width: int
) -> None:
    context, page = logged_in(browser, stack, "owner", width, axe=True)
    page.goto(f"{ORG}/repos/internal/settings/")
    expect(page.locator("main")).to_contain_text("the old URLs keep answering for 90 days")
    page.get_by_label("Name").fill("private")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Rename acme/internal to acme/private?"
    )
    table = page.locator("table.rename-urls")
    expect(table).to_contain_text("/acme/internal/simple/")
    expect(table).to_contain_text("/acme/private/legacy/")
    expect(page.get_by_role("note")).to_contain_text("pip, uv and twine get the same packages")
    shoot(page, "repo-rename-confirm", width)
    assert _serious(page) == []
    assert no_wide_tables(page) == []
    if width == WIDTHS[-1]:  # on a phone: think again
        page.get_by_role("link", name="Cancel").click()
        expect(page).to_have_url(f"{stack.base_url}{ORG}/repos/internal/settings/")
        context.close()
        return
    page.get_by_role("button", name="Rename").click()
    expect(page).to_have_url(f"{stack.base_url}{ORG}/repos/private/")
    expect(page.locator(".messages")).to_contain_text(
        "The old URLs (/acme/internal/…) keep answering until"
    )
    shoot(page, "repo-renamed", width)
    # Someone with a bookmark of the old page lands on the new one.
    page.goto(f"{ORG}/repos/internal/connect/")
    expect(page).to_have_url(f"{stack.base_url}{ORG}/repos/private/connect/")
    # Renamed back: the old URL is the repository's own again.
    page.goto(f"{ORG}/repos/private/settings/")
    page.get_by_label("Name").fill("internal")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Rename").click()
    expect(page).to_have_url(f"{stack.base_url}{ORG}/repos/internal/")
    context.close()


def test_renaming_the_organization_asks_first(browser: Browser, stack: EmbeddedStack) -> None:
    context, page = logged_in(browser, stack, "owner", axe=True)
    page.goto(f"{ORG}/settings/")
    page.get_by_label("Slug").fill("acme-corp")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rename acme to acme-corp?")
    expect(page.locator("table.rename-urls")).to_contain_text("/acme-corp/<repository>/simple/")
    shoot(page, "org-rename-warning", 1280)
    assert _serious(page) == []
    page.get_by_role("link", name="Cancel").click()
    page.goto(f"{ORG}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme")
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_project_page_offers_a_badge_and_downloads_with_the_session(
    browser: Browser, stack: EmbeddedStack, width: int
) -> None:
    context, page = logged_in(browser, stack, "reader", width, axe=True)
    page.goto(PROJECT)
    badge = page.get_by_role("img", name="acme-utils: latest version 1.0.0")
    expect(badge).to_be_visible()
    assert badge.evaluate("img => img.naturalWidth") > 0  # the SVG loaded, with the session
    badge_url = f"{stack.base_url}{PROJECT}badge.svg"
    expect(page.locator("#badge-markdown")).to_have_text(
        f"[![acme-utils]({badge_url})]({stack.base_url}{PROJECT})"
    )
    expect(page.locator("#badge-rst")).to_contain_text(f".. image:: {badge_url}")
    # A reader may not make it public.
    expect(page.get_by_role("button", name="Make the badge public")).to_have_count(0)
    with page.expect_download() as download:
        page.get_by_role("link", name="acme_utils-1.0.0-py3-none-any.whl").click()
    assert download.value.suggested_filename == "acme_utils-1.0.0-py3-none-any.whl"
    assert Path(download.value.path()).read_bytes()[:2] == b"PK"  # a wheel is a zip
    page.get_by_role("heading", name="Badge").scroll_into_view_if_needed()
    shoot(page, "project-badge", width)
    assert _serious(page) == []
    assert no_wide_tables(page) == []
    context.close()


def test_owners_make_a_badge_public_and_strangers_see_only_that(
    browser: Browser, stack: EmbeddedStack
) -> None:
    badge = f"{PROJECT}badge.svg"
    stranger = browser.new_context(base_url=stack.base_url)
    assert stranger.request.get(badge).status == 404
    assert stranger.request.get("/acme/main/simple/acme-utils/").status == 401
    context, page = logged_in(browser, stack, "owner")
    page.goto(PROJECT)
    page.get_by_role("button", name="Make the badge public").click()
    expect(page.locator(".messages")).to_contain_text("The badge of acme-utils is now public")
    public = stranger.request.get(badge)
    assert (public.status, public.headers["content-type"]) == (200, "image/svg+xml")
    assert "1.0.0" in public.text()
    assert stranger.request.get(PROJECT, max_redirects=0).status == 302  # the page: log in
    page.get_by_role("button", name="Make the badge private").click()
    expect(page.locator(".messages")).to_contain_text("now shown only to those who may read")
    assert stranger.request.get(badge).status == 404
    stranger.close()
    context.close()
