"""Meta-classifiers that read the training setup back out of NWS weights (Sec. 5, App. E–F).

Every entry point reads the NWS only through the public loading API, :func:`nws_datasets.load`
(:mod:`metaclf.data`); nothing here depends on the ``load_dataset("nws")`` hook.
"""
