"""Standalone experiments: scripts that measure one claim each (``python -m green_chain.experiments.<name>``)."""
