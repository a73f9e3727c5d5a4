"""`python -m metaclf.learning_curve`: accuracy against training models per class
(:func:`metaclf.cli.commands.learning_curve`)."""
from metaclf.cli import commands, entry

main = commands.learning_curve
entry(__name__, main)
