"""Cross-department data sync (部门数据同步): feeds in, department facts and follow-ups out.

``services.batch_receive`` is the one entry point for a batch (API push, inbox folder, the
``ingest_feed`` command); ``services.batch_process`` runs the resumable pipeline that the
Celery task ``population.sync.batch_process`` wraps. See docs/feeds.md.
"""
