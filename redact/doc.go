// Package redact finds personal data and secrets in free text and masks
// them: e-mail addresses, phone numbers, payment card numbers (checked
// with the Luhn algorithm), IBANs (checked with their ISO 13616 mod-97
// checksum), bearer tokens, API keys (sk-…, Bulwark's bk-…, and similar
// vendor prefixes) and AWS access key ids.
//
// It serves the request log's content capture today and is meant for the
// guardrail chain later: Find reports what it found and where, String
// masks it.
//
// Invariants:
//   - String never panics and returns valid UTF-8 for valid UTF-8 input.
//   - Nothing Find detects is left in String's output: masking is repeated
//     until no match remains (a mask never forms a new match, so this ends
//     after a few passes).
//   - Each masked span becomes its kind in brackets ("[email]"); the text
//     around it is kept byte for byte.
//
// Detection is by pattern, so it errs on the side of masking: a ten-digit
// order number is masked as a phone number, while a number that fails its
// checksum is not taken for a card or an IBAN. Dates, years and short
// numbers are not masked.
//
// This package imports only the standard library.
package redact
