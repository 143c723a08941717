"""Compression backends: score the units of a text so a budget keeps the best ones.

Lexical (BM25), embedding, selective context, a learned token classifier and LLMLingua,
each a :class:`~green_chain.compression.backends.base.CompressionBackend`; ``words.py``
holds the stop words and stemmer the lexical and embedding backends share.
"""
