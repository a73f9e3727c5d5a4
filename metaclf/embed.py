"""`python -m metaclf.embed`: the weight embedding (:func:`metaclf.cli.analyses.embed`)."""
from metaclf.cli import analyses, entry

main = analyses.embed
entry(__name__, main)
