// Package config owns Bulwark's configuration file: its schema as plain
// data (Config and the types it holds), the defaults (Default,
// ApplyDefaults), strict decoding (Load, Parse) and validation (Validate).
//
// Invariants:
//
//   - The zero value of every field is valid and means "the default";
//     Validate accepts a Config before and after ApplyDefaults alike, and
//     Default() validates.
//   - Decoding is strict. An unknown key, a duplicate key, a value of the
//     wrong type or a duration without a unit ("30", not "30s") is a
//     problem, never ignored.
//   - Every problem is reported at once, as Problems: each has a path such
//     as models[2].targets[0].provider and, for a file, the line of the
//     value it is about.
//   - ${VAR} and ${VAR:-default} are expanded inside scalar values after
//     the YAML is parsed, never in the raw text, so an environment value
//     cannot change the file's structure; an unset variable without a
//     default is a problem.
//   - Secrets (api_key, headers) never appear in a problem's message, in
//     JSON, or in a Config returned by Redacted.
//   - A Config is plain data: it starts nothing and holds no connection.
//     It is not safe for concurrent mutation; treat a validated Config as
//     read-only and build a new one to reload.
//
// Package config imports no other package of Bulwark: every other package
// may import it, and app builds the running system from it.
package config
