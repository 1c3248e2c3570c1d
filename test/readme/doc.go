// Package readme runs README.md as written (TestREADME): a user who
// pastes its blocks in order, in a clone of the repository, gets what it
// says. It holds no code but the test.
//
// A fenced block's info string may carry a marker after its language,
// which GitHub does not show:
//
//   - "sh norun: REASON" is shown, not run, because it needs what a test
//     cannot have (a Docker daemon, a Kubernetes cluster); its syntax is
//     checked.
//   - "sh check-only: REASON" runs without its `bulwark serve` lines (they
//     need a vendor's key); the config they name is checked by the block's
//     own `config check`.
//   - "sh postgres" runs with BULWARK_POSTGRES_URL, a database with
//     Bulwark's schema, and BULWARK_RESTORE_URL, an empty one, made on the
//     Postgres at BULWARK_TEST_POSTGRES_URL.
//   - "sh s3" runs with an in-memory S3 at 127.0.0.1:8333 with the bucket
//     bulwark-backups, as SeaweedFS's `weed mini` serves it.
//   - "yaml NAME" is another tool's configuration, not checked.
//
// Every other sh block runs; every yaml block passes `bulwark config
// check`; every python block compiles.
package readme
