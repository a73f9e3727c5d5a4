"""`python -m metaclf.embed`: the weight embedding (:func:`metaclf.cli.commands.embed`)."""
from metaclf.cli import commands, entry

main = commands.embed
entry(__name__, main)
