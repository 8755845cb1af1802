"""The one table of who may do what. Every view, API endpoint and service asks `can()`."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol
from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from accounts.models import ApiKey
from accounts.models import KeyScope
from accounts.models import ManagementScope
from accounts.models import Membership
from accounts.models import Organization
from accounts.models import Role
from accounts.models import User

# Who acts: a person (anonymous until logged in), or an API key presented by a client.
Actor: TypeAlias = User | ApiKey | AnonymousUser


class RepositoryRef(Protocol):
    """What the rules need of a repository. A protocol, so this lowest app never imports
    the registry app that owns repositories."""

    @property
    def pk(self) -> int: ...

    @property
    def organization_id(self) -> int: ...

    @property
    def slug(self) -> str: ...


class Action(StrEnum):
    READ = "read"
    UPLOAD = "upload"
    YANK = "yank"
    DELETE = "delete"
    MANAGE_KEYS = "manage_keys"
    MANAGE_REPOSITORIES = "manage_repositories"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_SETTINGS = "manage_settings"
    VIEW_AUDIT = "view_audit"
    # Webhooks send the organization's events (names, versions, members) to a URL of choice.
    MANAGE_WEBHOOKS = "manage_webhooks"
    # Granting, changing or removing the owner role, and deleting the organization, stay with
    # owners so an admin can never lock the owners out.
    MANAGE_OWNERS = "manage_owners"
    DELETE_ORGANIZATION = "delete_organization"


_READER = frozenset({Action.READ})
_MEMBER = _READER | {Action.UPLOAD}
_ADMIN = _MEMBER | {
    Action.YANK,
    Action.DELETE,
    Action.MANAGE_KEYS,
    Action.MANAGE_REPOSITORIES,
    Action.MANAGE_MEMBERS,
    Action.MANAGE_SETTINGS,
    Action.VIEW_AUDIT,
    Action.MANAGE_WEBHOOKS,
}
_OWNER = _ADMIN | {Action.MANAGE_OWNERS, Action.DELETE_ORGANIZATION}

ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.OWNER: _OWNER,
    Role.ADMIN: _ADMIN,
    Role.MEMBER: _MEMBER,
    Role.READER: _READER,
}
# What a key may ever do, by scope: the union over the scopes it holds. A personal key is
# further bounded by its user's current role, an organization key by nothing more (only key
# managers make them). Organization settings, its deletion and the owner role have no scope:
# they stay with people.
SCOPE_ACTIONS: dict[str, frozenset[Action]] = {
    KeyScope.READ: frozenset({Action.READ}),
    KeyScope.UPLOAD: frozenset({Action.READ, Action.UPLOAD}),
    ManagementScope.MANAGE_REPOSITORIES: frozenset({Action.MANAGE_REPOSITORIES}),
    ManagementScope.MANAGE_KEYS: frozenset({Action.MANAGE_KEYS}),
    ManagementScope.MANAGE_MEMBERS: frozenset({Action.MANAGE_MEMBERS}),
    ManagementScope.YANK: frozenset({Action.YANK}),
    ManagementScope.DELETE: frozenset({Action.DELETE}),
    ManagementScope.MANAGE_WEBHOOKS: frozenset({Action.MANAGE_WEBHOOKS}),
}
# The scope an action needs, named in refusals and in the API schema.
ACTION_SCOPE: dict[Action, str] = {
    Action.READ: KeyScope.READ,
    Action.UPLOAD: KeyScope.UPLOAD,
    Action.MANAGE_REPOSITORIES: ManagementScope.MANAGE_REPOSITORIES,
    Action.MANAGE_KEYS: ManagementScope.MANAGE_KEYS,
    Action.MANAGE_MEMBERS: ManagementScope.MANAGE_MEMBERS,
    Action.YANK: ManagementScope.YANK,
    Action.DELETE: ManagementScope.DELETE,
    Action.MANAGE_WEBHOOKS: ManagementScope.MANAGE_WEBHOOKS,
}
# Actions whose reach is the whole organization: a key limited to some repositories never
# does them. Members are the organization's; and a repository's settings reach others (a
# virtual repository's members), so a limited key could read beyond its limit through them.
# Webhooks likewise: an organization-wide endpoint receives every repository's events.
WHOLE_ORGANIZATION_ACTIONS = frozenset(
    {Action.MANAGE_REPOSITORIES, Action.MANAGE_MEMBERS, Action.MANAGE_WEBHOOKS}
)
# The key scopes a role may put on a personal key (its own, or one for itself).
ROLE_KEY_SCOPES: dict[str, frozenset[str]] = {
    role: frozenset(s for s, acts in SCOPE_ACTIONS.items() if acts <= actions)
    for role, actions in ROLE_ACTIONS.items()
}


def grantable_scopes(user: User, organization: Organization) -> frozenset[str]:
    """The scopes a person may put on a key: those of their role (owners and admins, who alone
    make organization keys, may grant every scope)."""
    role = role_of(user, organization)
    return ROLE_KEY_SCOPES[role] if role is not None else frozenset()


def key_actions(api_key: ApiKey) -> frozenset[Action]:
    """Everything the key's scopes allow, before its user's role and repository limits.
    Remembered on the key object: asked on every index request, and a key's scopes never
    change (a new set of scopes is a new key)."""
    actions: frozenset[Action] | None = api_key.__dict__.get("_actions")
    if actions is None:
        actions = frozenset().union(*(SCOPE_ACTIONS.get(s, frozenset()) for s in api_key.scopes))
        api_key.__dict__["_actions"] = actions
    return actions


def role_of(user: User | AnonymousUser, organization: Organization) -> str | None:
    """The user's role in the organization, or None; remembered on the user for the request."""
    if not isinstance(user, User) or not user.is_active:
        return None
    cache: dict[int, str | None] = user.__dict__.setdefault("_roles", {})
    if organization.pk not in cache:
        cache[organization.pk] = (
            Membership.objects.filter(user=user, organization=organization)
            .values_list("role", flat=True)
            .first()
        )
    return cache[organization.pk]


def remember_role(user: User, organization: Organization, role: str | None) -> None:
    """Prime role_of with a role a query already fetched (with the organization)."""
    user.__dict__.setdefault("_roles", {})[organization.pk] = role


def acting_user(actor: Actor) -> User | None:
    """The person behind an actor: the user, a personal key's user, or None."""
    if isinstance(actor, ApiKey):
        return actor.user
    return actor if isinstance(actor, User) else None


def forget_roles(actor: Actor) -> None:
    """Drop remembered roles after a membership change in the same request."""
    user = acting_user(actor)
    if user is not None:
        user.__dict__.pop("_roles", None)


def _key_can(
    api_key: ApiKey, action: Action, organization: Organization, repository: RepositoryRef | None
) -> bool:
    if api_key.organization_id != organization.pk:
        return False
    if action not in key_actions(api_key):
        return False
    if action in WHOLE_ORGANIZATION_ACTIONS and not api_key.all_repositories:
        return False
    if repository is not None and not api_key_covers(api_key, repository):
        return False
    if api_key.user is not None:
        role = role_of(api_key.user, organization)
        return role is not None and action in ROLE_ACTIONS[role]
    return True


def key_repository_ids(api_key: ApiKey) -> frozenset[int] | None:
    """The repositories a key is limited to, or None for every repository of its organization.

    An empty set means none at all (a limited key whose repositories were deleted): it must
    never read as "all". Fetched once per key object, and not at all for an all-repositories
    key."""
    if api_key.all_repositories:
        return None
    limited: frozenset[int] | None = api_key.__dict__.get("_limited_to")
    if limited is None:
        limited = frozenset(api_key.repositories.values_list("pk", flat=True))
        api_key.__dict__["_limited_to"] = limited
    return limited


def api_key_covers(api_key: ApiKey, repository: RepositoryRef) -> bool:
    """Whether the key's repository limit includes this repository."""
    if repository.organization_id != api_key.organization_id:
        return False
    limited = key_repository_ids(api_key)
    return limited is None or repository.pk in limited


def can(
    actor: Actor,
    action: Action | str,
    organization: Organization,
    repository: RepositoryRef | None = None,
) -> bool:
    """Whether a user (by role) or an API key (by scope, limits and owner) may do `action`."""
    action = Action(action)
    if repository is not None and repository.organization_id != organization.pk:
        return False
    if isinstance(actor, ApiKey):
        return _key_can(actor, action, organization, repository)
    role = role_of(actor, organization)
    return role is not None and action in ROLE_ACTIONS[role]


def denial_message(actor: Actor, action: Action) -> str:
    """Why `actor` may not do `action`, in one line its client can show."""
    what = action.value.replace("_", "/")
    if isinstance(actor, ApiKey):
        if action == Action.UPLOAD and not actor.can_upload:
            return "This API key is read-only; it cannot upload."
        if action not in key_actions(actor):
            if action in ACTION_SCOPE:
                return f"This API key lacks the {ACTION_SCOPE[action]} scope."
            return f"API keys cannot {what}; use a logged-in session."
        if action in WHOLE_ORGANIZATION_ACTIONS and not actor.all_repositories:
            return f"A key limited to some repositories cannot {what}."
        if actor.user_id is not None:
            return f"This personal API key's user may not {what} here."
        return f"This API key may not {what} here."
    return f"Your role does not allow this ({action.value})."


def require_role_grant(actor: Actor, role: str) -> None:
    """A key gives (by invitation or role change) only a role it could act as itself: every
    action of the role among its scopes. Else a key with only manage:members could invite an
    admin and so reach everything; admins (with the audit log, which no scope allows) are made
    by people."""
    if not isinstance(actor, ApiKey):
        return
    lacking = ROLE_ACTIONS[role] - key_actions(actor)
    if lacking:
        missing = sorted(ACTION_SCOPE.get(a, "") for a in lacking)
        why = f"lacks the {missing[0]} scope" if all(missing) else "could never act as one"
        raise PermissionDenied(f"This API key cannot give the {role} role: it {why}.")


def require(
    actor: Actor,
    action: Action,
    organization: Organization,
    repository: RepositoryRef | None = None,
) -> None:
    """`can()`, or PermissionDenied saying which action was refused."""
    if not can(actor, action, organization, repository):
        raise PermissionDenied(denial_message(actor, action))
