from django.contrib import admin
from django.urls import path

admin.site.site_header = "人口基础信息库 popbase"
admin.site.site_title = "popbase"
admin.site.index_title = "户籍与人口信息管理"

urlpatterns = [
    path("admin/", admin.site.urls),
]
