"""`python -m metaclf.maps`: performance maps (:func:`metaclf.cli.analyses.maps`)."""
from metaclf.cli import analyses, entry

main = analyses.maps
entry(__name__, main)
