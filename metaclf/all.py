"""`python -m metaclf.all`: every method on every target (:func:`metaclf.cli.commands.all_`)."""
from metaclf.cli import commands, entry

main = commands.all_
entry(__name__, main)
