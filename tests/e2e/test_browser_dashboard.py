"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against the live
services stack: a new team signs up, creates an organization, a repository and a key, publishes
with twine, installs with pip, manages the release, invites a reader and revokes the key.

Screenshots of the main pages go to test-artifacts/screenshots/ for review.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.artifacts import Package
from tests.artifacts import write_distributions
from tests.clients import fresh_venv
from tests.clients import http
from tests.clients import mailed_link
from tests.clients import pip_install
from tests.clients import twine_upload
from tests.clients import wait_until_listed
from tests.clients import with_credentials
from tests.services import PROJECT_ROOT
from tests.services import ServicesStack

pytestmark = pytest.mark.e2e

SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
PASSWORD = "correct-horse-battery-staple-42"
# A README that tries every way to run code in the dashboard: a script tag, a javascript:
# link, event handlers on raw HTML, an iframe and a form.
HOSTILE_README = """# Hostile package

Some **markdown** and a [safe link](https://example.org/docs).

<script>window.__pwned = "script";</script>

[click me](javascript:window.__pwned='link')

<a href="javascript:window.__pwned='raw-link'">raw link</a>

<img src="/nothing.png" onerror="window.__pwned='onerror'">

<div onmouseover="window.__pwned='hover'" style="position:fixed;inset:0">raw html</div>

<iframe src="javascript:parent.__pwned='iframe'"></iframe>

<form action="https://evil.example/"><input name="x"></form>
"""


@dataclass(frozen=True)
class ReadmePackage(Package):
    readme: str = ""

    def metadata(self) -> str:
        head, _ = super().metadata().split("\n\n", 1)
        return f"{head}\nDescription-Content-Type: text/markdown\n\n{self.readme}"


@dataclass
class Team:
    """What the walk has made so far."""

    org: str
    owner_email: str
    context: BrowserContext
    page: Page
    token: str = ""
    key_name: str = ""
    index_url: str = ""
    upload_url: str = ""
    package: ReadmePackage | None = None
    files: list[Path] = field(default_factory=list)
    yanked_once: bool = False


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def no_dialogs(page: Page) -> None:
    """Confirmation prompts are accepted, as a person clicking OK would; anything else (an
    alert from injected code) fails the test."""

    def handle(dialog: object) -> None:
        assert dialog.type == "confirm", f"unexpected {dialog.type}: {dialog.message}"
        dialog.accept()

    page.on("dialog", handle)


def new_page(
    browser: Browser, stack: ServicesStack, **options: object
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(base_url=stack.base_url, **options)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.base_url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    no_dialogs(page)
    return context, page


def sign_up(
    page: Page, stack: ServicesStack, email: str, name: str, *, screenshot: str = ""
) -> None:
    """Sign up, then finish from the mailed link by choosing the password."""
    page.goto("/accounts/signup/")
    if screenshot:
        shoot(page, screenshot)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    choose_password(page, mailed_link(stack, email, "/accounts/signup/"))
    expect(page).to_have_url(re.compile(r"/orgs/$"))


def choose_password(page: Page, link: str) -> None:
    page.goto(link)
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Set password").click()


@pytest.fixture(scope="module")
def team(browser: Browser, services_stack: ServicesStack) -> Iterator[Team]:
    """A new person signs up and creates an organization: the start of every walk below."""
    org = f"acme-{secrets.token_hex(3)}"
    context, page = new_page(browser, services_stack)
    page.goto("/")
    expect(page.get_by_role("heading", name="Log in to Wheelhouse")).to_be_visible()
    shoot(page, "00-login")
    sign_up(page, services_stack, f"owner@{org}.test", "Olive Owner", screenshot="00-signup")
    expect(page.get_by_role("heading", name="Welcome to Wheelhouse")).to_be_visible()
    shoot(page, "01-empty-organizations")
    page.get_by_role("link", name="Create your organization").click()
    page.get_by_label("Slug").fill(org)
    page.get_by_label("Name").fill("Acme Rockets")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".messages")).to_contain_text(f"Organization {org} created.")
    expect(page.get_by_role("heading", name="Set up your first repository")).to_be_visible()
    shoot(page, "02-new-organization")
    try:
        yield Team(org=org, owner_email=f"owner@{org}.test", context=context, page=page)
    finally:
        context.close()


# Each step of the walk below is a test, and each can run alone: what a step needs from the
# steps before it (a repository, a key, a published package, a yank) comes from a fixture
# that takes those steps itself unless an earlier test of this module already took them.


def _create_repository(team: Team) -> None:
    """From the new organization's page: repository `main`, leaving its connect page open."""
    page = team.page
    page.goto(f"/orgs/{team.org}/")
    page.get_by_role("link", name="Create a repository").click()
    page.get_by_label("Name").fill("main")
    page.get_by_label("Description").fill("Our internal libraries")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".messages")).to_contain_text("created. Connect a client next.")
    team.index_url = page.locator("#index-url").inner_text()
    team.upload_url = page.locator("#upload-url").inner_text()


def _create_key(team: Team) -> str:
    """From the keys page: the upload key `ci-publish` for main, leaving it shown once."""
    page = team.page
    team.key_name = "ci-publish"
    page.get_by_label("Name").fill(team.key_name)
    page.get_by_label("Scope").select_option("upload")
    page.get_by_label("Only these", exact=True).check()
    page.get_by_label(f"{team.org}/main").check()
    page.get_by_label("Expires in days").fill("30")
    page.get_by_label("Allowed networks").fill("127.0.0.0/8")
    page.get_by_role("button", name="Create key").click()
    team.token = page.locator("#new-key").inner_text().strip()
    return team.token


def _publish(team: Team, dist: Path) -> None:
    """Acme-Rocket 1.0.0 (wheel and sdist, hostile README) published with twine, and ready."""
    package = ReadmePackage("Acme-Rocket", "1.0.0", readme=HOSTILE_README)
    files = write_distributions(package, dist)
    upload = twine_upload(team.upload_url, team.token, files)
    assert upload.returncode == 0, upload.output
    wait_until_listed(team.index_url, team.token, "acme-rocket", [f.name for f in files])
    team.package, team.files = package, files


def _yank_and_unyank(team: Team) -> None:
    page = team.page
    page.goto(f"/orgs/{team.org}/repos/main/projects/acme-rocket/")
    page.get_by_label("Reason for yanking 1.0.0").fill("Crashes on start")
    page.get_by_role("button", name="Yank", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Acme-Rocket 1.0.0 yanked")
    expect(page.locator("#v1\\.0\\.0")).to_contain_text("Yanked: Crashes on start")
    index = http("GET", f"{team.index_url}acme-rocket/", token=team.token)
    assert 'data-yanked="Crashes on start"' in index.text
    shoot(page, "07-yanked")
    page.get_by_role("button", name="Unyank").click()
    expect(page.locator(".messages")).to_contain_text("installable again")
    team.yanked_once = True


@pytest.fixture
def repository(team: Team) -> Team:
    if not team.index_url:
        _create_repository(team)
    return team


@pytest.fixture
def upload_key(repository: Team) -> Team:
    if not repository.token:
        repository.page.goto(f"/orgs/{repository.org}/keys/")
        _create_key(repository)
    return repository


@pytest.fixture
def published(upload_key: Team, tmp_path_factory: pytest.TempPathFactory) -> Team:
    if not upload_key.files:
        _publish(upload_key, tmp_path_factory.mktemp("dist"))
    return upload_key


@pytest.fixture
def yanked_once(published: Team) -> Team:
    if not published.yanked_once:
        _yank_and_unyank(published)
    return published


def test_it_creates_a_repository_and_shows_copy_ready_client_settings(team: Team) -> None:
    page = team.page
    _create_repository(team)
    assert team.index_url.endswith(f"/{team.org}/main/simple/")
    assert team.upload_url.endswith(f"/{team.org}/main/legacy/")
    snippets = "\n".join(page.locator("pre").all_inner_texts())
    for expected in (
        f"index-url = {team.index_url}",
        "[[tool.uv.index]]",
        "default = true",
        f"uv publish --publish-url {team.upload_url}",
        "poetry source add --priority=primary",
        "[[tool.pdm.source]]",
        f"repository = {team.upload_url}",
        "machine 127.0.0.1",
    ):
        assert expected in snippets
    assert "extra-index-url" not in snippets
    expect(page.locator(".notice")).to_contain_text("dependency confusion")
    # The copy buttons appear only with the script, and they copy the snippet.
    page.locator("button[data-copy=pip-conf]").click()
    expect(page.locator("button[data-copy=pip-conf]")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"[global]\nindex-url = {team.index_url}"
    shoot(page, "03-connect")


def test_it_creates_an_upload_key_shown_once_with_a_copy_button(repository: Team) -> None:
    team = repository
    page = team.page
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="No keys yet")).to_be_visible()
    token = _create_key(team)
    assert token.startswith("whk_")
    page.get_by_role("button", name="Copy key").click()
    assert page.evaluate("navigator.clipboard.readText()") == token
    shoot(page, "04-key-created")
    page.get_by_role("link", name="Done, back to keys").click()
    row = page.locator("tr", has_text=team.key_name)
    expect(row).to_contain_text("main")
    expect(row).to_contain_text("127.0.0.0/8")
    expect(row).to_contain_text("never")
    assert token not in page.content()


def test_it_lists_what_twine_published_and_pip_installs_it(
    upload_key: Team, tmp_path: Path
) -> None:
    team = upload_key
    _publish(team, tmp_path / "dist")
    files = team.files
    python = fresh_venv(tmp_path / "venv")
    installed = pip_install(python, with_credentials(team.index_url, team.token), "acme-rocket")
    assert installed.returncode == 0, installed.output

    page = team.page
    page.goto(f"/orgs/{team.org}/repos/main/")
    page.get_by_label("Search projects").fill("rocket")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Acme-Rocket").click()
    expect(page.get_by_role("heading", name="Acme-Rocket", exact=True)).to_be_visible()
    expect(page.locator("#install-pip")).to_have_text(
        f"pip install --index-url {team.index_url} acme-rocket==1.0.0"
    )
    for path in files:
        row = page.locator("tr", has_text=path.name)
        expect(row).to_contain_text("ready")
        expect(row).to_contain_text(f"key {team.key_name}")
    # The key's last use now shows on the keys page.
    shoot(page, "05-project")
    page.goto(f"/orgs/{team.org}/keys/")
    expect(page.locator("tr", has_text=team.key_name)).not_to_contain_text("never")
    page.goto(f"/orgs/{team.org}/")
    expect(page.locator(".stats li", has_text="Files").locator("strong")).to_have_text("2")


def test_it_renders_a_hostile_readme_harmless(published: Team) -> None:
    team = published
    page = team.page
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.goto(f"/orgs/{team.org}/repos/main/projects/acme-rocket/")
    readme = page.locator(".readme")
    expect(readme.get_by_role("heading", name="Hostile package")).to_be_visible()
    expect(readme.get_by_role("link", name="safe link")).to_have_attribute(
        "href", "https://example.org/docs"
    )
    readme.get_by_text("click me").click()
    readme.get_by_text("raw link").click()
    page.mouse.move(10, 300)
    page.mouse.move(400, 400)
    assert page.evaluate("window.__pwned") is None
    assert readme.locator("script, iframe, form, [onerror], [onmouseover]").count() == 0
    hrefs = readme.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert not [h for h in hrefs if h and h.strip().lower().startswith("javascript:")]
    # The page's own scripts come from static files only: the policy forbids inline code.
    response = page.request.get(f"/orgs/{team.org}/repos/main/projects/acme-rocket/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    # Nothing on the page even tried what the policy forbids: the sanitizer left no inline
    # script, handler or remote resource for the browser to block.
    assert blocked == []
    shoot(page, "06-readme")


def test_it_yanks_and_unyanks_a_release_with_a_reason(published: Team) -> None:
    team = published
    _yank_and_unyank(team)
    assert "data-yanked" not in http("GET", f"{team.index_url}acme-rocket/", token=team.token).text


def test_it_invites_a_reader_who_sees_packages_but_cannot_change_them(
    published: Team, browser: Browser, services_stack: ServicesStack
) -> None:
    team = published
    page = team.page
    reader = f"reader@{team.org}.test"
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email", exact=True).fill(reader)
    page.get_by_label("Role", exact=True).select_option("reader")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".messages")).to_contain_text(f"Invitation sent to {reader}.")
    expect(page.locator("tr", has_text=reader)).to_contain_text("Reader")
    shoot(page, "08-members")
    link = mailed_link(services_stack, reader, "/accounts/invitations/")

    context, guest = new_page(browser, services_stack)
    try:
        # A newcomer opens the link, is asked to log in, signs up instead and lands back on
        # the invitation.
        guest.goto(link)
        guest.get_by_role("link", name="Create an account").click()
        guest.get_by_label("Email").fill(reader)
        guest.get_by_label("Name").fill("Rita Reader")
        guest.get_by_role("button", name="Sign up").click()
        expect(guest.get_by_role("heading", name="Check your email")).to_be_visible()
        choose_password(guest, mailed_link(services_stack, reader, "/accounts/signup/"))
        expect(guest.get_by_role("heading", name="Join Acme Rockets")).to_be_visible()
        guest.get_by_role("button", name="Accept and join").click()
        expect(guest.locator(".messages")).to_contain_text("Welcome to Acme Rockets.")
        tabs = guest.get_by_role("navigation", name="Acme Rockets")
        expect(tabs.get_by_role("link")).to_have_text(["Repositories", "Members", "API keys"])
        guest.goto(f"/orgs/{team.org}/repos/main/projects/acme-rocket/")
        expect(guest.locator(".readme")).to_contain_text("Hostile package")
        expect(guest.get_by_role("button", name="Yank", exact=True)).to_have_count(0)
        expect(guest.get_by_role("link", name="Delete…")).to_have_count(0)
        expect(guest.get_by_role("button", name="Send invitation")).to_have_count(0)
        for refused in ("audit/", "settings/", "repos/main/settings/"):
            response = guest.goto(f"/orgs/{team.org}/{refused}")
            assert response is not None
            assert response.status == 403, refused
        guest.goto(f"/orgs/{team.org}/keys/")
        expect(guest.locator(".notice")).to_contain_text("You see your personal keys")
        expect(guest.locator("tr", has_text=team.key_name)).to_have_count(0)
        shoot(guest, "09-reader-keys")

        # The owner promotes the reader, then removes them: their access ends at once.
        page.goto(f"/orgs/{team.org}/members/")
        row = page.locator("tbody tr", has_text=reader)
        row.get_by_label(f"Role of {reader}").select_option("admin")
        row.get_by_role("button", name="Change role").click()
        expect(page.locator(".messages")).to_contain_text(f"{reader} is now Admin.")
        guest.goto(f"/orgs/{team.org}/audit/")
        expect(guest.get_by_role("heading", name="Audit log")).to_be_visible()
        page.locator("tbody tr", has_text=reader).get_by_role("button", name="Remove").click()
        expect(page.locator(".messages")).to_contain_text(f"{reader} is no longer a member.")
        gone = guest.goto(f"/orgs/{team.org}/")
        assert gone is not None
        assert gone.status == 404
    finally:
        context.close()


def test_it_resets_a_forgotten_password_by_email(
    browser: Browser, services_stack: ServicesStack
) -> None:
    email = f"forgetful-{secrets.token_hex(3)}@example.test"
    context, page = new_page(browser, services_stack)
    try:
        sign_up(page, services_stack, email, "Fred Forgetful")
        page.get_by_role("button", name="Log out").click()
        page.get_by_role("link", name="Forgot your password?").click()
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Send reset link").click()
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
        page.goto(mailed_link(services_stack, email, "/accounts/password/reset/"))
        new_password = "a-brand-new-passphrase-77"
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("New password confirmation").fill(new_password)
        page.get_by_role("button", name="Set password").click()
        expect(page.get_by_role("heading", name="Password reset")).to_be_visible()
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(new_password)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Your organizations")).to_be_visible()
    finally:
        context.close()


def test_it_labels_every_form_control_on_the_main_pages(published: Team) -> None:
    team = published
    page = team.page
    unlabeled = []
    for path in ("", "members/", "keys/", "audit/", "settings/", "repos/main/",
                 "repos/main/connect/", "repos/main/settings/",
                 "repos/main/projects/acme-rocket/"):  # fmt: skip
        page.goto(f"/orgs/{team.org}/{path}")
        if path.endswith("settings/"):
            shoot(page, "14-" + path.replace("/", "-").strip("-"))
        names = page.locator("main input:not([type=hidden]), main select, main textarea")
        for control in names.all():
            # A README's own markup (sanitised, inert) is the package author's, not ours.
            label = control.evaluate(
                "el => (el.labels && el.labels.length) || el.getAttribute('aria-label')"
                " || el.closest('.readme') !== null"
            )
            if not label:
                unlabeled.append((path, control.evaluate("el => el.outerHTML")))
    assert not unlabeled


def test_it_switches_between_organizations(team: Team) -> None:
    page = team.page
    page.goto(f"/orgs/{team.org}/")
    page.locator(".switcher summary").click()
    shoot(page, "13-switcher")
    page.get_by_role("link", name="+ New organization").click()
    page.get_by_label("Slug").fill(f"{team.org}-labs")
    page.get_by_label("Name").fill("Acme Labs")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".switcher summary")).to_contain_text("Acme Labs")
    page.locator(".switcher summary").click()
    page.locator(".switcher .menu").get_by_role("link", name="Acme Rockets").click()
    expect(page.get_by_role("heading", name="Acme Rockets")).to_be_visible()
    expect(page.locator(".switcher summary")).to_contain_text("Acme Rockets")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Wheelhouse")).to_be_visible()
    page.get_by_label("Email").fill(team.owner_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your organizations")).to_be_visible()
    expect(page.get_by_role("link", name="Acme Labs")).to_be_visible()


def test_it_filters_the_audit_log_by_action_and_actor(yanked_once: Team) -> None:
    team = yanked_once
    page = team.page
    page.goto(f"/orgs/{team.org}/")
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("tbody tr")).not_to_have_count(0)
    page.get_by_label("Action").select_option("release.yank")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Crashes on start")
    expect(rows).to_contain_text(team.owner_email)
    page.get_by_label("Actor").fill("nobody-like-this")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No events match these filters.")).to_be_visible()
    page.get_by_role("link", name="Clear").click()
    shoot(page, "10-audit")


def test_it_rotates_then_revokes_the_key_so_clients_are_refused(upload_key: Team) -> None:
    team = upload_key
    page = team.page
    assert http("GET", team.index_url, token=team.token).status == 200
    page.goto(f"/orgs/{team.org}/keys/")
    page.locator("tr", has_text=team.key_name).get_by_role("button", name="Rotate").click()
    rotated = page.locator("#new-key").inner_text().strip()
    assert rotated.startswith("whk_")
    assert rotated != team.token
    assert http("GET", team.index_url, token=team.token).status == 401
    assert http("GET", team.index_url, token=rotated).status == 200
    page.get_by_role("link", name="Done, back to keys").click()
    active = page.locator("tbody tr", has=page.get_by_role("button", name="Revoke"))
    expect(active).to_have_count(1)
    active.get_by_role("button", name="Revoke").click()
    expect(page.locator(".messages")).to_contain_text(f"Key {team.key_name} revoked")
    expect(page.locator("tbody tr", has_text="revoked")).to_have_count(2)
    assert http("GET", team.index_url, token=rotated).status == 401
    shoot(page, "11-key-revoked")


def test_it_fits_a_phone_screen(
    repository: Team, browser: Browser, services_stack: ServicesStack
) -> None:
    team = repository
    context, page = new_page(browser, services_stack, viewport={"width": 390, "height": 844})
    try:
        context.add_cookies(team.context.cookies())
        page.goto(f"/orgs/{team.org}/repos/main/connect/")
        expect(page.get_by_role("heading", name="Connect a client")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        shoot(page, "12-phone-connect")
    finally:
        context.close()
