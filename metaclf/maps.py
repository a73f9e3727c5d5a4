"""`python -m metaclf.maps`: performance maps (:func:`metaclf.cli.commands.maps`)."""
from metaclf.cli import commands, entry

main = commands.maps
entry(__name__, main)
