"""The service's use cases: access checks, enrolment, recognition, re-embedding after a model change, and the
administrator's records (each request schema mapped to the repositories once) — over the repositories and the
runtime, with the rules of ``service.domain``; no HTTP here."""
