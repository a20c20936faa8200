"""The project's URLs plus the baseline: a bare DRF RetrieveAPIView of the same person row
(no key, no scope, no masking, no audit)."""

from django.urls import include, path
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny

from population.models import Person


class BarePersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = Person
        fields = ["citizen_id", "name", "sex", "birth_date", "ethnicity", "status",
                  "hukou_region", "residence_region"]  # fmt: skip


class BarePersonView(generics.RetrieveAPIView):
    queryset = Person.objects.all()
    serializer_class = BarePersonSerializer
    lookup_field = "citizen_id"
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []


urlpatterns = [
    path("bench/bare/persons/<str:citizen_id>", BarePersonView.as_view()),
    path("", include("config.urls")),
]
