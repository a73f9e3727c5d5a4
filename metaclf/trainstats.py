"""`python -m metaclf.trainstats`: training statistics (:func:`metaclf.cli.commands.trainstats`)."""
from metaclf.cli import commands, entry

main = commands.trainstats
entry(__name__, main)
