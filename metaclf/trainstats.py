"""`python -m metaclf.trainstats`: training statistics (:func:`metaclf.cli.analyses.trainstats`)."""
from metaclf.cli import analyses, entry

main = analyses.trainstats
entry(__name__, main)
