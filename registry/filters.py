"""What a proxy repository lets through from its upstream: the supply-chain controls.

- cooldown: files uploaded fewer than N days ago are not listed (a compromised release is
  usually found and yanked within days);
- snapshot: nothing uploaded after a date (reproducible builds from a moving upstream);
- allow list: when not empty, only these names (and versions) are listed;
- deny list: these names (or only these versions of them) are never listed;
- exempt names skip the cooldown and the snapshot (an urgent security fix).

Rules are one PEP 508 name with an optional version specifier per line (`django>=4.2,<6`,
`requests`), parsed by packaging, never evaluated. What a rule hides is absent from the page;
asking for its file directly gets 404 with `Rules.hidden_reason`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion

from registry.models import Repository
from registry.names import normalize_name


@dataclass(frozen=True)
class Rule:
    name: str  # normalized
    specifier: SpecifierSet
    text: str

    def matches(self, name: str, version: str) -> bool:
        if name != self.name:
            return False
        if not self.specifier:
            return True
        try:
            return self.specifier.contains(version, prereleases=True)
        except InvalidVersion:
            return False


def rules_parse(text: str, *, field: str, names_only: bool = False) -> list[Rule]:
    """The rules of a text field, one per line; ValidationError naming the first bad line."""
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise ValidationError(
                {
                    field: f"Line {number} ('{line}') is not a project name with an optional "
                    f"version specifier: {exc}"
                }
            ) from exc
        if requirement.url or requirement.marker or requirement.extras:
            raise ValidationError(
                {
                    field: f"Line {number} ('{line}'): only a name and a version specifier are "
                    "allowed, no extras, markers or URLs."
                }
            )
        if names_only and requirement.specifier:
            raise ValidationError(
                {field: f"Line {number} ('{line}'): exemptions name projects, not versions."}
            )
        rules.append(Rule(normalize_name(requirement.name), requirement.specifier, line))
    return rules


@dataclass(frozen=True)
class Rules:
    cooldown_days: int | None
    snapshot_at: datetime | None
    allow: tuple[Rule, ...]
    deny: tuple[Rule, ...]
    exempt: frozenset[str]

    @classmethod
    def of(cls, repository: Repository) -> Rules:
        return cls(
            cooldown_days=repository.cooldown_days or None,
            snapshot_at=repository.snapshot_at,
            allow=tuple(rules_parse(repository.allow_rules, field="allow_rules")),
            deny=tuple(rules_parse(repository.deny_rules, field="deny_rules")),
            exempt=frozenset(
                r.name for r in rules_parse(repository.exempt_names, field="exempt_names")
            ),
        )

    @property
    def timed(self) -> bool:
        """Whether what passes changes with the clock alone (pages must not be kept long)."""
        return self.cooldown_days is not None

    def hides_project(self, name: str) -> str | None:
        """Why no file of `name` is listed, when a rule hides it whatever its version."""
        if self.allow and not any(r.name == name for r in self.allow):
            return f"'{name}' is not in this repository's allow list."
        for rule in self.deny:
            if rule.name == name and not rule.specifier:
                return f"'{name}' is denied by this repository's rule '{rule.text}'."
        return None

    def hidden_reason(self, name: str, entry: dict[str, Any], now: datetime) -> str | None:
        """Why this upstream file is not offered, or None when it is."""
        version = entry["version"]
        hidden = self.hides_project(name)
        if hidden:
            return hidden
        if self.allow and not any(r.matches(name, version) for r in self.allow):
            return f"{name} {version} is outside this repository's allow list."
        for rule in self.deny:
            if rule.matches(name, version):
                return f"{name} {version} is denied by this repository's rule '{rule.text}'."
        if name in self.exempt or (self.cooldown_days is None and self.snapshot_at is None):
            return None
        uploaded = entry.get("upload_time")
        if not uploaded:
            return f"{entry['filename']} has no upload time upstream, so its age is unknown."
        uploaded_at = datetime.fromisoformat(uploaded)
        if self.snapshot_at is not None and uploaded_at > self.snapshot_at:
            return (
                f"{entry['filename']} was uploaded after this repository's snapshot date "
                f"({self.snapshot_at:%Y-%m-%d %H:%M} UTC)."
            )
        if self.cooldown_days is not None:
            cutoff = now - timedelta(days=self.cooldown_days)
            if uploaded_at > cutoff:
                days = self.cooldown_days
                return (
                    f"{entry['filename']} was uploaded less than {days} day"
                    f"{'s' if days != 1 else ''} ago; this repository lists files "
                    f"{days} day{'s' if days != 1 else ''} after their upload."
                )
        return None
