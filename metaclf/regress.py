"""`python -m metaclf.regress`: the accuracy regression (:func:`metaclf.cli.commands.regress`)."""
from metaclf.cli import commands, entry

main = commands.regress
entry(__name__, main)
