"""`python -m metaclf.learning_curve`: accuracy against training models per class
(:func:`metaclf.cli.analyses.learning_curve`)."""
from metaclf.cli import analyses, entry

main = analyses.learning_curve
entry(__name__, main)
