"""Rows that migrations load (role grants, shipped policies) come back after a flush.

``manage.py flush``, and the teardown of every transactional test, empties every table and then
sends ``post_migrate`` without a migration plan. Django re-creates content types and permissions
then; this re-runs, in migration order, every migration function marked ``@replay_after_flush``
(each must be idempotent: a rerun on full tables changes nothing). Without it the staff roles and
the shipped policies would be gone until the database is rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable

MARK = "replay_after_flush"


def replay_after_flush(func: Callable) -> Callable:
    """Mark an idempotent data-migration function to be re-run after a flush."""
    setattr(func, MARK, True)
    return func


def marked_functions(connection) -> list[Callable]:
    """The marked RunPython functions of every migration on disk, in dependency order."""
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations import RunPython

    loader = MigrationLoader(connection, ignore_no_migrations=True)
    ordered: list[tuple[str, str]] = []
    for leaf in sorted(loader.graph.leaf_nodes()):
        for node in loader.graph.forwards_plan(leaf):
            if node not in ordered:
                ordered.append(node)
    return [
        op.code
        for node in ordered
        for op in loader.graph.nodes[node].operations
        if isinstance(op, RunPython) and getattr(op.code, MARK, False)
    ]


def replay_on_flush(sender, *, using: str, plan=None, **kwargs) -> None:
    """post_migrate receiver: after a flush (no plan), replay the marked data migrations."""
    if plan is not None:  # sent by `migrate`: the migrations themselves just ran
        return
    from django.apps import apps
    from django.db import connections

    connection = connections[using]
    with connection.schema_editor() as editor:
        for func in marked_functions(connection):
            func(apps, editor)
