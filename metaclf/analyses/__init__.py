"""Analyses of an NWS beyond meta-classification: training statistics, the accuracy
regression, the weight embedding, performance maps and the one-command report."""
