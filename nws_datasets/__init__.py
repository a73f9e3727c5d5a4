"""NWS: the neural weight space as a dataset (Eilertsen et al. 2020, "Classifying the classifier")."""
__version__ = "0.1.0"
