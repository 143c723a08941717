"""The benchmark library behind ``green-chain bench``: baseline vs green chains on real data.

``scenarios/`` build each task's baseline and green chain from the shared data
(``data.py``, ``items.py``); ``components.py`` holds the injectable models and optimizer
factories; ``runner.py`` runs both variants item by item (``item_run.py``: one item,
metered by the energy callback handler; ``capture.py``: what the chain called);
``routefit.py`` fits each scenario's router on calibration items; ``etr.py`` the
validated-ETR sweep; ``results.py`` / ``document.py`` / ``plots.py`` / ``projection.py``
turn the records into results.json, tables, plots and projected figures;
``exporters.py`` loads exporters such as MLflow by entry point.
"""
