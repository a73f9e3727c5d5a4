"""Hugging Face ``datasets`` builders of the NWS (``load_dataset("nws", ...)`` after ``import nws_datasets``)."""
