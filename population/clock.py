"""The project's calendar: what day it is where the records are kept.

Every effective date a service, form or job defaults to is ``today()``: the date in
``TIME_ZONE`` (Asia/Shanghai), never the server's own calendar (``date.today()``). The citizen
ID parser keeps a once-a-second cache of its own (``population.identity``), as it runs
thousands of times a second on the department API.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def today() -> dt.date:
    """Today's local date."""
    return timezone.localdate()
