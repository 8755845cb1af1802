"""ApiKey.all_repositories: "every repository" stored explicitly instead of read from an empty
set of repository links (security review H2)."""

from django.db import migrations, models


def mark_all_repositories_keys(apps, schema_editor):
    """A key with no repository links meant "all repositories" and keeps that meaning, unless
    the audit log recorded it being created with repositories: then its links vanished with
    deleted repositories, the bug this field fixes, and it stays limited (to nothing: refused)
    rather than keeping the access it was never given. Keys with links stay limited to them."""
    ApiKey = apps.get_model("accounts", "ApiKey")
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    created_limited = {
        target.removeprefix("key ")
        for target, details in AuditEvent.objects.filter(action="api_key.create").values_list(
            "target", "details"
        )
        if (details or {}).get("repositories")
    }
    unlinked = ApiKey.objects.filter(repositories__isnull=True).exclude(
        public_id__in=created_limited
    )
    unlinked.update(all_repositories=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_invitations_audit_personal_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="all_repositories",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(mark_all_repositories_keys, migrations.RunPython.noop),
    ]
