"""The service's use cases: access checks, enrolment, recognition, webhook delivery — over the
repositories and the runtime, with the rules of ``service.domain``; no HTTP here."""
