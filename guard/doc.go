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
// Checks that call a service (remote.go, bedrock.go) are Callers, not
// Checks: a Rule has one or the other. Each call runs within its rule's
// Timeout inside the caller's context; a failure (an error, a timeout,
// an answer that cannot be read) is never a finding: the rule's OnError
// decides, Open going on with a Skipped finding, Closed stopping the
// chain with an *UnavailableError. When the context itself ended, Run
// returns its error.
//   - classifier: a chat alias answering a Llama Guard-style verdict
//     ("safe", or "unsafe" and a line of categories), called through
//     Env.Chat (the gateway, as the request's tenant).
//   - bedrock: Amazon Bedrock Guardrails' ApplyGuardrail, one text block
//     per text; a mask rule takes its outputs.
//
// A Policy may hold tenants' own policies, which replace the alias's for
// them (Policy.For).
//
// Invariants:
//   - An Error's and a Finding's Reason never quote the text checked: it
//     names kinds, counts, pattern names and scores only.
//   - Run never changes the texts it is given; masked texts are new.
//   - Chains and checks are immutable once built and safe for concurrent
//     use.
//
// guard imports config, redact and llm/bedrock (the AWS SDK client of
// the bedrock check); it must not import gateway or api.
package guard
