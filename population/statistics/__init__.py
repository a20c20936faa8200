"""Urbanization statistics: figures per area and month end, snapshots, targets, balance, reports.

The Django app ``statistics`` (apps.StatisticsConfig); see docs/statistics.md for the
definitions. Reads only ``population`` tables; what higher apps contribute (the balance's
registration events, the permit and settlement figures) they register on this app's hooks, so
it imports no higher app and holds no SQL on their tables.
"""
