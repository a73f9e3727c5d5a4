"""`python -m metaclf.local`: the local DMC (:func:`metaclf.cli.commands.local`)."""
from metaclf.cli import commands, entry

main = commands.local
entry(__name__, main)
