"""`python -m metaclf.batchmix`: what a DMC's test-batch accuracy owes to its batch-mates
(:func:`metaclf.cli.analyses.batchmix`)."""
from metaclf.cli import analyses, entry

main = analyses.batchmix
entry(__name__, main)
