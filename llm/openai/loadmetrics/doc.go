// Package loadmetrics scrapes the load that self-hosted, OpenAI-compatible
// model servers report about themselves, for load-aware routing: vLLM's
// vllm:num_requests_waiting, vllm:num_requests_running and KV-cache usage
// (vllm:kv_cache_usage_perc, or vllm:gpu_cache_usage_perc before vLLM
// renamed it), served in the Prometheus text format at /metrics on the API
// port. Bulwark's simulator serves the same names.
//
// It lives under llm/openai because what it reads is a vendor's wire
// format (vLLM's metric names and labels), and vendor formats live with
// the vendor; it is a package of its own because it is not part of the
// request path: the openai Client never calls it and it never calls the
// Client. Like every vendor package it is wired by the composition root
// (app), which hands its reports to the routing table through the small
// interface route declares (route.LoadSource); gateway and route never
// import it.
//
// What a page says (Parse): per model (the model_name label; vLLM labels
// every series with the served model name and the engine index), the
// waiting and running requests summed over engines and the KV-cache usage
// averaged over them, as a fraction from 0 to 1 (vLLM's "perc" metrics are
// fractions despite the name). A page that says none of it is an error.
//
// A Group runs one scraper goroutine per configured provider, never on the
// request path. A report is fresh for three scrape intervals after the
// scrape that produced it; a failed scrape keeps the last report, which
// goes stale when no scrape succeeds for that long, and Load does not
// return stale reports. A model the page does not name gets the page's
// only model when it names exactly one (a server serving one model under
// another name), else nothing.
//
// Invariants:
//   - Every goroutine a Group starts is stopped and waited for by
//     Configure (for the scrapers it drops) or Close.
//   - A page is read up to MaxPageBytes; a longer one is an error, so an
//     upstream cannot make Bulwark buffer without bound.
//   - Nothing from a page reaches a metric label: the labels Bulwark
//     exports are the configured provider and model names.
//
// Group is safe for concurrent use. This package imports the standard
// library and Prometheus's text-format parser only.
package loadmetrics
