// Package chaos holds Bulwark's chaos test suite: every upstream failure
// the simulator can inject (throttling with and without Retry-After, 5xx,
// resets, hangs, slow first tokens, cut, stalled and malformed streams,
// streams without [DONE], context-length and content-filter refusals, an
// outage and its recovery), each driven through the real gateway, route
// table and OpenAI API handler, asserting what the client sees, how many
// attempts were made where, and how long it took.
//
// The tests run inside testing/synctest bubbles, so every timeout, backoff,
// Retry-After and breaker delay is exact and costs no wall-clock time.
//
// The package has no non-test code. Its tests may import anything; they
// exist outside gateway because gateway must not import the simulator.
package chaos
