from django.urls import path

from events import team_views, views

app_name = "events"

urlpatterns = [
    path("", views.lookup, name="lookup"),
    path("status/", views.desk_status, name="desk_status"),
    path("audit/", team_views.audit_log, name="audit"),
    path("audit/export.csv", team_views.audit_export, name="audit_export"),
    path("preferences/", team_views.preferences, name="preferences"),
    path("events/<str:event_id>/", views.event_detail, name="detail"),
    path("events/<str:event_id>/status/", views.event_status, name="status"),
    path("events/<str:event_id>/details/", views.event_facts, name="facts"),
    path("events/<str:event_id>/raw.json", views.event_raw, name="raw"),
]
