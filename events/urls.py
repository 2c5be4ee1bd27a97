from django.urls import path

from events import views

app_name = "events"

urlpatterns = [
    path("", views.lookup, name="lookup"),
    path("status/", views.desk_status, name="desk_status"),
    path("events/<str:event_id>/", views.event_detail, name="detail"),
    path("events/<str:event_id>/status/", views.event_status, name="status"),
    path("events/<str:event_id>/raw.json", views.event_raw, name="raw"),
]
