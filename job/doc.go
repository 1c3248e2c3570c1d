// Package job owns Bulwark's asynchronous requests: background responses
// (POST /v1/responses with background: true) and async chat completions
// (POST /v1/chat/completions with X-Bulwark-Async: true). A job is one
// request stored when the client sends it, answered at once with the
// job's id, run later by a worker, and polled until it ends.
//
// A job is durable. It is stored queued (Store.CreateJob); a worker
// claims it with a lease (Store.ClaimJobs, renewed every third of
// Options.Lease) and runs it; its end is written once
// (Store.FinishJob only moves a job that has not ended), in the same
// transaction as the webhook event that tells of it. A process killed
// mid-job leaves the job claimed until its lease runs out; then a worker
// (here after a restart, or another replica) runs it again. Its upstream
// call may then be made twice; its end is recorded once.
//
// Cancellation (Service.Cancel) ends a job that has not ended as
// cancelled; the worker running it sees it at its next lease renewal (at
// once when it runs in the same process) and stops, and a worker that
// claimed it a moment before does not start it. Deletion (Service.Delete)
// cancels a job that has not ended, waits for its run in this process to
// return, and deletes it. A run whose answer is not kept because its job
// was cancelled or deleted meanwhile is told to Options.Dropped, so that
// what it stored on its way goes too.
//
// A request refused for a reason that passes when waited out (a rate
// limit, admission control shedding lower-priority work: Result.Busy)
// waits as long as it is told and is tried again until Options.Window
// has passed since the job was created; then the job fails. Other 429s
// and 5xx are tried again Options.Retries times with backoff.
//
// Ended jobs are kept until their ExpiresAt (the retention the API sets)
// and then purged.
//
// The queue is written here, not taken from a library: the Go job queues
// that lease rows (River, gue, Neoq) are built for Postgres first and bring
// their own tables and migrations, while a job here is a few columns in
// Bulwark's own schema on SQLite and Postgres alike, ended in the same
// transaction as the webhook event that tells of it. The contract is
// Store's, run against both backends by jobtest.
//
// job must not import a backend (sqlite, postgres), the gateway or the
// HTTP API: app wires them in through Store and Executor.
package job
