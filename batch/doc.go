// Package batch owns OpenAI's Batch API: a batch runs the requests of an
// uploaded JSONL file (one {custom_id, method, url, body} a line) through
// the gateway at batch priority, and writes their responses to an output
// file and their failures to an error file.
//
// A batch is a durable job. Its lines are stored with it when it is
// created (Store.CreateBatch), and each line's result is stored when the
// line is done, under the key (batch, line index), which holds one result
// only (Store.PutResult): a process killed mid-batch resumes at the next
// Start with the lines that have no result, so no line that completed is
// run again and none has two results. A line running when the process
// died is run again — its upstream call may have been made twice, its
// result is stored once.
//
// Replicas sharing a store claim a batch before running it and renew the
// claim while they run it (Store.Claim), so each batch is run by one
// replica at a time; every replica looks for batches to run every Poll,
// so a dead replica's batches are taken over when their leases run out.
//
// The lifecycle is OpenAI's: validating → in_progress → finalizing →
// completed; failed (an input file with bad lines, checked at creation);
// expired (past the completion window: the lines not run are in the error
// file with code batch_expired); cancelling → cancelled. The output and
// error files are written with ids derived from the batch's, so a
// finalization that is cut off and done again writes each once.
//
// Lines run on spare capacity only (the Executor marks them so: package
// shed, SpareOnly): a line never waits in a target's queue in front of
// live requests, and takes a permit only with room to spare.
//
// A line refused for a reason that passes if waited out (a rate limit,
// admission control shedding batch work: Result.Busy) waits as long as
// it is told and is tried again, until the batch's window ends, so that a
// batch paces itself to its key's limits instead of failing. A line that
// fails otherwise with a 429 or 5xx (the gateway's own retries and
// fallbacks ran out) is tried again with backoff Options.Retries times;
// then its failure is its result.
//
// batch must not import a backend (sqlite, postgres), the gateway or the
// HTTP API: app wires them in through Store, Executor and Files.
package batch
