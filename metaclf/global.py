"""`python -m metaclf.global`: the global DMC (:func:`metaclf.cli.commands.global_`)."""
from metaclf.cli import commands, entry

main = commands.global_
entry(__name__, main)
