// Package faults is Bulwark's fault-injection suite: it runs real
// `bulwark serve` processes and makes their dependencies and the processes
// themselves fail as they do in production — Postgres and Redis cut,
// frozen and restored behind a TCP proxy (package faultproxy), replicas
// killed with SIGKILL or stopped with SIGTERM mid-stream — and checks what
// operators and the people billed from the usage ledger rely on: nothing
// acknowledged is lost or counted twice, readiness answers at once and
// tells the truth, limits hold.
//
// The package holds tests only. It builds the binary once (TestMain) and
// needs the machine's Postgres and Redis (BULWARK_TEST_POSTGRES_URL,
// BULWARK_TEST_REDIS_URL); with CI=true an unreachable one fails the run.
// BULWARK_FAULT_TRIALS sets the number of SIGKILL trials per shape (100).
// The replication drill uses object storage from package backup/s3test: a
// fake S3 in the test process, or the server at BULWARK_TEST_S3_URL.
package faults
