"""`python -m metaclf.regress`: the accuracy regression (:func:`metaclf.cli.analyses.regress`)."""
from metaclf.cli import analyses, entry

main = analyses.regress
entry(__name__, main)
