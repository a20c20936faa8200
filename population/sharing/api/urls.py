from django.urls import path

from population.sharing.api import views

app_name = "sharing"

urlpatterns = [
    path("persons/<str:citizen_id>", views.PersonView.as_view(), name="person"),
    path("persons/<str:citizen_id>/reads", views.PersonReadsView.as_view(), name="person_reads"),
    path("persons/<str:citizen_id>/facts/<str:fact>", views.FactView.as_view(), name="fact"),
    path("verifications", views.VerificationView.as_view(), name="verifications"),
    path("changes", views.ChangesView.as_view(), name="changes"),
    path("feeds/<str:department>/batches", views.FeedBatchesView.as_view(), name="feed_batches"),
    path(
        "feeds/<str:department>/batches/<str:batch_id>",
        views.FeedBatchView.as_view(),
        name="feed_batch",
    ),
    path(
        "statistics/urbanization", views.UrbanizationView.as_view(), name="statistics_urbanization"
    ),
]
