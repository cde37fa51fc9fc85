"""The service's pure rules: access policy, matching, the threshold, key and webhook formats, face
analysis and crop sealing — no storage, no HTTP. Everything else in ``service`` may use them; they use
nothing in ``service``."""
