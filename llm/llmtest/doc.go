// Package llmtest is the conformance suite every llm.Provider passes:
// Run(t, newEnv) checks chat, streams, embeddings and error kinds against a
// provider and, when the environment can inject faults (the simulator), how
// each failure surfaces: the Kind, the RetryAfter, where a stream breaks.
//
// Invariants the suite enforces:
//   - Every error a provider returns is an *llm.Error naming the requested
//     model, with the Kind the failure calls for.
//   - A stream returns HTTP-level failures from Stream itself, delivers its
//     chunks in order (content, the finish reason, then usage) and ends with
//     io.EOF only after a proper end; Recv keeps returning the same end.
//   - Embeddings come back one per input, in input order, of one dimension.
//
// The suite talks to the provider only through llm.Provider and sets faults
// only through Env.SetFaults, so it runs unchanged against the simulator in
// process, an OpenAI-compatible client pointed at the simulator, or a real
// upstream (without fault cases). It imports llm and config (for
// config.Faults) and must not import any provider package.
package llmtest
