"""`python -m metaclf.report`: the one-command report (:func:`metaclf.cli.analyses.report`)."""
from metaclf.cli import analyses, entry

main = analyses.report
entry(__name__, main)
