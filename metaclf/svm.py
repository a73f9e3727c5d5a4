"""`python -m metaclf.svm`: SVM baselines on hand-crafted statistics (:func:`metaclf.cli.commands.svm`)."""
from metaclf.cli import commands, entry

main = commands.svm
entry(__name__, main)
