"""Meta-classifiers that read the training setup back out of NWS weights (Sec. 5, App. E–F).

Every entry point reads the NWS only through ``load_dataset("nws", ...)`` (:mod:`metaclf.data`).
"""
