"""Storage: one module per table group, functions with keyword-only arguments over a caller's ``Session``.

They never commit (the caller owns the transaction), never speak HTTP, and raise the typed errors of
:mod:`service.repositories.errors` that the API maps to problem codes.
"""
