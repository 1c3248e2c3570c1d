// Package guard is Bulwark's guardrails: chains of checks run on what a
// client sends an alias (stage input) and on what the alias answers
// (stage output), built from config models[].guardrails.
//
// A Chain runs its Rules in order over a request's texts (one per
// message, with its role). A rule whose check finds something acts:
// Block stops the chain with an *Error (the API answers 400
// guardrail_blocked), Mask rewrites every text with the check's mask and
// goes on (later rules see the masked texts), Log only reports it. Every
// rule that found something is reported as a Finding, blocks included.
//
// The checks (checks.go, injection.go):
//   - pii: personal data and secrets, found and masked by package redact.
//   - denied_terms: words and phrases, whole and in any case.
//   - injection: prompt injection, scored by fast local heuristics (a
//     weighted set of patterns over the text, its normalised form, and
//     its decoded base64 and ROT13 forms) against a threshold. It reads
//     user and tool messages on input (a system prompt is the
//     operator's), the answer on output.
//   - max_chars: the characters of all the texts together.
//
// Invariants:
//   - An Error's and a Finding's Reason never quote the text checked: it
//     names kinds, counts, pattern names and scores only.
//   - Run never changes the texts it is given; masked texts are new.
//   - Chains and checks are immutable once built and safe for concurrent
//     use.
//
// guard imports config and redact; it must not import gateway or api.
package guard
