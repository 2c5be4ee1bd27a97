"""Team administration in Django's admin, within what a Team admin may do.

A Team admin (not a superuser) creates, deactivates and re-roles staff and resets their
passwords; they cannot grant superuser or raw permissions. They never see, edit, reset or
unlock an account that holds more than the two roles (a superuser, or a user with other
groups or permissions given by a superuser): taking one over would give them its rights.
Staff status follows the role: Team admins get the admin, Support does not.
No admin list takes a regular expression in its query string: on SQLite it runs in Python,
holding the process, and a crafted one can take minutes.
"""

import ipaddress
from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group, User
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import GenericIPAddressField, Q, QuerySet
from django.http import HttpRequest

from events.access import FULL_NUMBERS_PERMISSION, folded_username, username_problem
from events.models import LookupAudit

ROLE_NAMES = ("Support", "Team admin")
TEAM_ADMIN = "Team admin"


def beyond_team_admins() -> Q:
    """The users a Team admin may not manage: superusers, and users holding any permission
    or group besides the two roles."""
    return (
        Q(is_superuser=True)
        | Q(user_permissions__isnull=False)
        | Q(groups__in=Group.objects.exclude(name__in=ROLE_NAMES))
    )


def _protected_usernames() -> set[str]:
    users = User.objects.filter(beyond_team_admins()).distinct()
    return {folded_username(name) for name in users.values_list("username", flat=True)}


# A search is an OR of LIKEs per word and field: a thousand words made SQLite refuse the
# query ("Expression tree is too large"), and 500 words took 13 s over 300,000 audit rows.
MAX_SEARCH_WORDS = 8
MAX_SEARCH_LENGTH = 200
# Lookups that compare an IP address field as an address (the others compare its text).
_ADDRESS_COMPARISONS = frozenset({"", "exact", "gt", "gte", "lt", "lte", "in"})


class _GuardedList:
    """Refuses `?field__regex=` and `__iregex` in the list's query string, and an IP
    address field compared with what is no address (a 400), and searches for the first
    MAX_SEARCH_WORDS words of a search, saying so."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if lookup.endswith(("__regex", "__iregex")):
            return False
        if not self._is_address_or_text(lookup, value):
            return False
        return super().lookup_allowed(lookup, value, request)  # type: ignore[misc]

    def _is_address_or_text(self, lookup: str, value: str) -> bool:
        """An IP address field compared with something that is no address: PostgreSQL's inet
        type refuses it when the query runs (a 500; SQLite compares it as text). Text
        lookups (contains, startswith…) compare its text, as the admin's search does."""
        name, _, operator = lookup.partition("__")
        try:
            field = self.model._meta.get_field(name)  # type: ignore[attr-defined]
        except FieldDoesNotExist:
            return True
        if not isinstance(field, GenericIPAddressField):
            return True
        if operator == "range":
            # The admin hands the range over unsplit, to be read a character at a time.
            return False
        if operator not in _ADDRESS_COMPARISONS:
            return True
        # As the query will get them: " 10.0.0.1" is no address to PostgreSQL either.
        values = value.split(",") if operator == "in" else [value]
        try:
            for one in values:
                ipaddress.ip_address(one)
        except ValueError:
            return False
        return True

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        words = search_term.split()
        if len(words) > MAX_SEARCH_WORDS or len(search_term) > MAX_SEARCH_LENGTH:
            search_term = " ".join(words[:MAX_SEARCH_WORDS])[:MAX_SEARCH_LENGTH]
            # Said once: the list's facet counts search again, after the page's messages.
            if not getattr(request, "search_cut_said", False):
                request.search_cut_said = True
                messages.warning(
                    request,
                    f"Searched for the first {MAX_SEARCH_WORDS} words "
                    f"({MAX_SEARCH_LENGTH} characters at most) only.",
                )
        return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]


@admin.register(LookupAudit)
class LookupAuditAdmin(_GuardedList, admin.ModelAdmin):
    """Read-only: the trail is append-only, even here."""

    list_display = ("at", "username", "event_id", "kind", "outcome", "status", "client_ip")
    # Dates by the filter's Today / Past 7 days / This month / This year. No date_hierarchy:
    # its drill-down truncates every row's time in Python on SQLite, 3 s a view over 300,000
    # rows; the desk's own /audit/ filters by any range of dates.
    list_filter = ("outcome", "kind", ("at", admin.DateFieldListFilter))
    search_fields = ("event_id", "username")
    # One COUNT a view, not two.
    show_full_result_count = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Rows keep what was typed and what LeadPing said, numbers in full: a viewer without
        # the full-numbers permission reads the trail at /audit/, where they are masked.
        return super().has_view_permission(request, obj) and request.user.has_perm(
            FULL_NUMBERS_PERMISSION
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.unregister(User)


class _DistinctUsername(forms.ModelForm):
    """Refuses a new username that could pass for another user's, or take over the audit
    trail's rows of an account renamed or deleted (access.username_problem). Django's add
    form checks case (in SQL: ASCII only on SQLite), its change form not at all. An account
    saved under its own name keeps it, so that one made before these checks can still be
    edited and deactivated."""

    def clean_username(self) -> str:
        username = self.cleaned_data.get("username") or ""
        if "username" in self.changed_data:
            problem = username_problem(username, other_than=self.instance.pk)
            if problem is not None:
                raise ValidationError(problem)
        return username


class _OwnAccount(forms.ModelForm):
    """The form of the account one is logged in with: nobody deactivates it, a Team admin
    does not drop their own role, nor a superuser their superuser or staff status. Each would
    lock them out of what they were doing, and only someone else could undo it."""

    editor: Any = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "is_active" in self.fields and not cleaned.get("is_active", True):
            self.add_error("is_active", "You cannot deactivate the account you are logged in with.")
        # A superuser dropping their own superuser or staff status loses the admin at once.
        for flag, what in (("is_superuser", "superuser"), ("is_staff", "staff")):
            if self.editor.is_superuser and flag in self.fields and not cleaned.get(flag, True):
                self.add_error(
                    flag,
                    f"You cannot take your own {what} status away: another superuser can.",
                )
        groups = cleaned.get("groups")
        if (
            "groups" in self.fields
            and not self.editor.is_superuser
            and groups is not None
            and not any(group.name == TEAM_ADMIN for group in groups)
        ):
            self.add_error(
                "groups",
                "You cannot remove your own Team admin role: another Team admin or a "
                "superuser can.",
            )
        return cleaned


class StaffChangeForm(_DistinctUsername, UserChangeForm):
    pass


class StaffCreationForm(_DistinctUsername, AdminUserCreationForm):
    pass


@admin.register(User)
class StaffAdmin(_GuardedList, UserAdmin):
    form = StaffChangeForm
    add_form = StaffCreationForm
    list_display = ("username", "first_name", "last_name", "is_active", "roles", "last_login")
    list_filter = ("is_active", "groups", "is_superuser")

    @admin.display(description="Roles")
    def roles(self, user: User) -> str:
        names = [group.name for group in user.groups.all()]
        return ", ".join(names) or ("Superuser" if user.is_superuser else "—")

    def get_list_filter(self, request: HttpRequest) -> tuple[str, ...]:
        if request.user.is_superuser:
            return self.list_filter
        return ("is_active", "groups")

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        users = super().get_queryset(request).prefetch_related("groups")
        if request.user.is_superuser:
            return users
        return users.exclude(pk__in=User.objects.filter(beyond_team_admins()).values("pk"))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser or obj is None:
            return fieldsets
        return (
            (None, {"fields": ("username", "password")}),
            ("Personal info", {"fields": ("first_name", "last_name", "email")}),
            ("Access", {"fields": ("is_active", "groups")}),
            ("Important dates", {"fields": ("last_login", "date_joined")}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if request.user.is_superuser:
            return ()
        return ("last_login", "date_joined", "is_superuser", "is_staff", "user_permissions")

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=ROLE_NAMES)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None or obj.pk != request.user.pk:
            return form
        return type("OwnAccountForm", (_OwnAccount, form), {"editor": request.user})

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Nobody deletes the account they are logged in with (locked out, and the audit
        # trail's rows of it kept under a name nobody has); nor in a bulk delete that
        # includes it, which Django then refuses as a whole.
        if obj is not None and obj.pk == request.user.pk:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not request.user.is_superuser:
            # Whatever was posted, a Team admin never makes a superuser or grants raw rights.
            obj.is_superuser = False
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        user = form.instance
        if not request.user.is_superuser:
            user.user_permissions.clear()
            user.groups.remove(*user.groups.exclude(name__in=ROLE_NAMES))
        is_team_admin = user.groups.filter(name=TEAM_ADMIN).exists()
        if not user.is_superuser and user.is_staff != is_team_admin:
            user.is_staff = is_team_admin
            user.save(update_fields=["is_staff"])


class _TeamAdminLoginRecords(_GuardedList):
    """django-axes' records of logins, without those of accounts a Team admin may not
    manage: unlocking one would let its password be guessed again and again."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        records = super().get_queryset(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return records
        # Usernames as typed at login: compared without case or width, as typed names vary.
        protected = _protected_usernames()
        hidden = [
            pk
            for pk, typed in records.values_list("pk", "username")
            if folded_username(typed or "") in protected
        ]
        return records.exclude(pk__in=hidden)


class DeskAccessAttemptAdmin(_TeamAdminLoginRecords, AccessAttemptAdmin):
    pass


class DeskAccessFailureLogAdmin(_TeamAdminLoginRecords, AccessFailureLogAdmin):
    pass


class DeskAccessLogAdmin(_TeamAdminLoginRecords, AccessLogAdmin):
    pass


# In place of django-axes' own (registered unless AXES_ENABLE_ADMIN is off).
for _model, _model_admin in (
    (AccessAttempt, DeskAccessAttemptAdmin),
    (AccessFailureLog, DeskAccessFailureLogAdmin),
    (AccessLog, DeskAccessLogAdmin),
):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
        admin.site.register(_model, _model_admin)
