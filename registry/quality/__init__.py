"""Data quality of the household registry (应销未销户口, 多重户口, 信息差错漏, 采集率, 准确率).

``detectors`` find suspected problems set-based in SQL, ``services`` keep the review queue and
the merge workflow, ``selectors`` compute the per-region figures. Models live in
``registry.quality.models`` and are imported by ``registry.models``.
"""
