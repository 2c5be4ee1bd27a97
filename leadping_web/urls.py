from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from events.access import DeskLoginView
from events.health import readyz
from events.metrics import metrics
from events.views import healthz

urlpatterns = [
    path("", include("events.urls")),
    path(
        "accounts/login/",
        DeskLoginView.as_view(),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
]

# Django's own 500 handler renders 500.html with no context at all; this one adds request_id.
handler500 = "events.request_ids.server_error"

admin.site.site_header = "LeadPing Event Desk administration"
admin.site.site_title = "LeadPing Event Desk"
