"""The service's decisions: policy, matching, access checks, enrolment — no HTTP here."""
