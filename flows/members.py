"""The members' request flow (issue 16), a second ``transitions`` table beside the intake's: the
kind of help, what it needs (an amount, months), details, an optional document, a summary to
confirm, and a reference. Pure, like :class:`flows.intake.IntakeFlow`; ``flows/diagram.py`` draws it.

FOUNDATION STUB: helper A fills this in.
"""

from __future__ import annotations

# The kinds of help a member may ask for (their labels: flows/texts/<lang>/members.toml).
KINDS = (
    "state_aid",  # aides de l'État / fonds de solidarité
    "short_time",  # chômage partiel
    "guaranteed_loan",  # prêt garanti
    "commission_advance",  # avance sur commissions (an amount)
    "royalty_deferral",  # report de redevances (months)
    "video",  # visio de suivi
    "other",
)
