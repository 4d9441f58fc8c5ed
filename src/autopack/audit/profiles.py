"""The Auditor's rubric for each profile: what to look for, and what counts as major."""

from __future__ import annotations

from autopack.domain.vocabulary import AuditorProfile

_COMMON = """You review one phase's change for Autopack before it is accepted.
Report only real problems you can show: cite the code, and describe a concrete failure scenario
(an input, a call sequence, a deployment step) that goes wrong. Do not report style preferences.
Give each finding a confidence from 0 to 100; below 80 it will be ignored, so do not pad.
Major = wrong behaviour, data loss, a security hole, a broken contract, or a test that cannot fail.
Minor = a real but contained problem (a missing edge case test, a misleading message).
When a problem is already listed as an open issue, use exactly that issue_key."""

RUBRICS: dict[AuditorProfile, str] = {
    AuditorProfile.GENERAL: (
        "Check that the change does what the phase asks and nothing else; that its tests would "
        "fail without it; error handling on bad input; and off-by-one and empty cases."
    ),
    AuditorProfile.SECURITY_REVIEW: (
        "Look for injection (SQL, shell, path traversal), missing or weakened authentication and "
        "authorisation checks, secrets in code or logs, unsafe deserialisation, SSRF, and "
        "permissive defaults. Any exploitable path is major."
    ),
    AuditorProfile.SCHEMA_REVIEW: (
        "Look at schemas, migrations and public contracts: can existing data still be read, does "
        "the migration run both on an empty and a populated database, are all producers and "
        "consumers updated, are defaults and nullability right. A breaking change without a "
        "migration is major."
    ),
    AuditorProfile.ORCHESTRATOR_REVIEW: (
        "Look at control flow across components: state transitions that can be skipped or "
        "repeated, retries without bounds, lost or duplicated work after a crash, races between "
        "workers, and timeouts that leave resources behind."
    ),
    AuditorProfile.LICENCE_SECURITY_REVIEW: (
        "This phase takes in code from outside the project. Check its licence is named and "
        "compatible with the project's, that its origin and version are recorded, and that its "
        "notices are kept. Then review it as untrusted code: network or file access it does not "
        "need, shell or eval on inputs, obfuscated or minified sources, pinned versions with known "
        "vulnerabilities. An incompatible or missing licence, or an exploitable path, is major."
    ),
    AuditorProfile.DEBT_CLEANUP_REVIEW: (
        "This phase cleans up known issues. Check each one the phase names is really fixed (not "
        "hidden or its test disabled), and that the cleanup did not change behaviour elsewhere."
    ),
}


def instructions_for(profile: AuditorProfile) -> str:
    return f"{_COMMON}\n\nProfile {profile.value}: {RUBRICS[profile]}"
