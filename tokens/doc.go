// Package tokens counts the tokens of chat and embeddings requests the way
// OpenAI's models do, and knows the context windows of OpenAI's model
// families. The gateway uses it to refuse a prompt that cannot fit any
// target's context window before calling an upstream, and to reserve
// tokens-per-minute quota with a count rather than a guess.
//
// # Encodings
//
// A target model's name chooses its encoding (For): o200k_base for gpt-4o,
// gpt-4.1, gpt-4.5, gpt-5, the o-series and gpt-oss; cl100k_base for
// gpt-4, gpt-3.5, text-embedding-3 and text-embedding-ada-002. The
// vocabularies are those of github.com/pkoukk/tiktoken-go-loader,
// compiled into the binary: nothing is downloaded at run time. Each is
// loaded once, on first use or by Preload, which bulwark serve calls at
// start (o200k_base: about 0.2 s and 9 MiB of heap; cl100k_base: 0.05 s
// and 4 MiB), and shared by every goroutine.
//
// Counting does not call tiktoken-go's encoder, which takes about 1.2 ms,
// 5,300 allocations and 420 KB for a 1,000-token prompt here (regexp2
// backtracking and a string per piece; quadratic in the length of one
// word). split.go writes out the two encodings' pre-tokenizer expressions
// by hand and bpe.go merges each piece as tiktoken does, over the same
// vocabularies: about 50 µs for the same prompt, with no allocation
// (go test -bench . ./tokens: BenchmarkChat1k, BenchmarkTiktokenGo1k).
// tiktoken-go stays the reference: the tests and FuzzCount check the
// counts against its encoder token for token.
//
// Any other model (Llama, Mistral, Qwen, Claude, Gemini, the simulator…)
// is estimated with cl100k_base and no safety factor, and Counter.Exact
// reports false. cl100k_base is within about 15% of the vocabularies of
// 100k–150k tokens most open models use (Llama 3, Qwen) and overcounts for
// the larger ones (Gemma); a safety factor would refuse prompts the model
// can take, while an undercount only lets a prompt near the window reach
// the upstream, whose context-length error the attempt loop already
// handles. For such a model Count.Min is a lower bound (the runs of
// letters and groups of digits, which no tokenizer that keeps words apart
// merges) rather than the estimate, so that an overcount never refuses a
// prompt the model would take. Reservations are corrected by the usage the upstream reports.
//
// # Chat framing
//
// A chat prompt is counted as OpenAI's cookbook counts it for every chat
// model since gpt-3.5-turbo-0613: 3 tokens per message, the tokens of its
// role, content and tool_call_id, 1 more and the tokens of its name when
// it has one, and 3 for the priming of the reply. Content parts count
// their text. What llm.Message does not carry is estimated from the
// request body, and only when the body mentions it:
//
//   - an image part: 85 tokens at detail "low", else 765 (a 1024×1024
//     image at "high" or "auto"; the size is not known without fetching
//     the image, and OpenAI charges from 85 up to 1,445 tokens);
//   - tools (and legacy functions), as OpenAI's cookbook estimates them
//     for gpt-4o: 12 tokens, plus per function 7 and the tokens of
//     "name:description", plus 3 when it has parameters and per parameter
//     3 and the tokens of "name:type:description" (an enum: -3, and 3 and
//     the value's tokens per value); nested schemas count the tokens of
//     their JSON text;
//   - an assistant message's tool calls: 3 each plus the tokens of the
//     function's name and arguments.
//
// Audio and file parts are not counted.
//
// # Cost and bounds
//
// Counting is linear in the text's length, with one exception kept in
// check: merging a piece is quadratic in its length, so a piece longer
// than maxMerge bytes (one enormous word, a long run of spaces) is merged
// in parts, which can miscount by a token at each cut. A request whose
// text exceeds MaxExactBytes (256 KiB, about 3 ms to count) is not
// encoded at all: its Count holds a lower bound that one pass over the
// message text proves (every maximal run of letters not after an
// apostrophe, and every started group of three digits, is at least one
// token in both encodings) and an estimate of four bytes per token. The
// bound is enough to refuse a prompt far over any window, and the
// estimate to reserve quota.
//
// Counter, For and Window are safe for concurrent use.
//
// tokens imports llm and nothing else of Bulwark's; it must not import the
// gateway, a backend or a vendor package.
package tokens
