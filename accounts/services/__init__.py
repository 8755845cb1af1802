"""Writes for users, organizations, memberships, invitations and API keys, and the audit log.

Services that change an organization take the acting user and check `can()` themselves, so a
view, an API endpoint and a task cannot disagree about who may do what.
"""

from __future__ import annotations

from accounts.services.audit import actor_label
from accounts.services.audit import audit_key_refusal
from accounts.services.audit import audit_record
from accounts.services.keys import API_KEY_PREFIX
from accounts.services.keys import LAST_USED_RESOLUTION
from accounts.services.keys import PUBLIC_ID_LENGTH
from accounts.services.keys import KeyCheck
from accounts.services.keys import NewApiKey
from accounts.services.keys import api_key_authenticate
from accounts.services.keys import api_key_check
from accounts.services.keys import api_key_create
from accounts.services.keys import api_key_issue
from accounts.services.keys import api_key_revoke
from accounts.services.keys import api_key_rotate
from accounts.services.keys import api_key_used
from accounts.services.keys import hash_api_key_secret
from accounts.services.members import NewInvitation
from accounts.services.members import invitation_accept
from accounts.services.members import invitation_create
from accounts.services.members import invitation_find
from accounts.services.members import invitation_revoke
from accounts.services.members import membership_remove
from accounts.services.members import membership_set_role
from accounts.services.organizations import alias_expiry
from accounts.services.organizations import former_slug_release
from accounts.services.organizations import organization_create
from accounts.services.organizations import organization_get_or_create
from accounts.services.organizations import organization_update
from accounts.services.organizations import user_get_or_create
from accounts.services.signup import signup_complete
from accounts.services.signup import signup_request
from accounts.services.signup import signup_user

__all__ = [
    "API_KEY_PREFIX", "LAST_USED_RESOLUTION", "PUBLIC_ID_LENGTH", "KeyCheck", "NewApiKey",
    "NewInvitation", "actor_label", "alias_expiry", "api_key_authenticate", "api_key_check",
    "api_key_create",
    "api_key_issue",
    "api_key_revoke", "api_key_rotate", "api_key_used", "audit_key_refusal", "audit_record",
    "former_slug_release", "hash_api_key_secret",
    "invitation_accept", "invitation_create", "invitation_find", "invitation_revoke",
    "membership_remove", "membership_set_role", "organization_create",
    "organization_get_or_create", "organization_update", "signup_complete", "signup_request",
    "signup_user", "user_get_or_create",
]  # fmt: skip
