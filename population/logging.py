"""Logging filter that masks citizen IDs (PIPL sensitive personal information)."""

import logging
import re

from population.identity import mask_citizen_id

_ID_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9Xx])")


def mask_citizen_ids_in_text(text: str) -> str:
    return _ID_IN_TEXT.sub(lambda m: mask_citizen_id(m.group(0).upper()), text)


class MaskCitizenIdFilter(logging.Filter):
    """Rewrites every 18-character ID in a log record's message to its masked form."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_citizen_ids_in_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
