"""The vector index: a cache of the SQL face templates of one model, searched for the closest people.

:mod:`service.index.vectors` is the index itself (flat, HNSW or IVF), :mod:`service.index.sync` keeps it level
with SQL, :mod:`service.index.storage` is its file.
"""
