"""`python -m metaclf.accuracy`: accuracy from weights (:func:`metaclf.cli.accuracy.main`)."""
from metaclf.cli import entry
from metaclf.cli.accuracy import main

entry(__name__, main)
