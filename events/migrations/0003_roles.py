"""The desk's two roles as groups: Support looks up events; Team admin also runs the team."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "Support": [
        ("events", "lookup_event"),
        ("events", "view_full_phone_numbers"),
    ],
    "Team admin": [
        ("events", "lookup_event"),
        ("events", "view_full_phone_numbers"),
        ("events", "view_lookupaudit"),
        ("auth", "add_user"),
        ("auth", "change_user"),
        ("auth", "view_user"),
        ("axes", "view_accessattempt"),
        ("axes", "delete_accessattempt"),
        ("axes", "view_accessfailurelog"),
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally made after all migrations; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in codes:
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is not None:
                group.permissions.add(permission)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0002_audit_and_preferences"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
