"""`python -m metaclf.results`: the table of earlier results (:func:`metaclf.cli.commands.results`)."""
from metaclf.cli import commands, entry

main = commands.results
entry(__name__, main)
