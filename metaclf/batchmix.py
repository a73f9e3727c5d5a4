"""`python -m metaclf.batchmix`: what a DMC's test-batch accuracy owes to its batch-mates
(:func:`metaclf.cli.commands.batchmix`)."""
from metaclf.cli import commands, entry

main = commands.batchmix
entry(__name__, main)
