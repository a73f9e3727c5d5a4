"""`python -m metaclf.report`: the one-command report (:func:`metaclf.cli.commands.report`)."""
from metaclf.cli import commands, entry

main = commands.report
entry(__name__, main)
