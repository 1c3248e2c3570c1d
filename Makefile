# The test command README.md gives: everything CI runs.
.PHONY: test test-go test-node build run fuzz bench bench-capacity bench-conns

test: test-go test-node

# test/pglite is a Postgres with pgvector (PGlite) for the postgres
# package's knowledge-base tests.
test-go:
	cd test/pglite && npm ci --no-audit --no-fund --loglevel=error
	go vet ./...
	go test -race ./...

# Drives a real `bulwark serve` with the official openai npm package.
test-node: build
	cd test/node && npm ci --no-audit --no-fund --loglevel=error && BULWARK_BIN=$(CURDIR)/bin/bulwark node --test

build:
	go build -o bin/bulwark ./cmd/bulwark

run:
	go run ./cmd/bulwark serve

# The load benchmark, short version (about four minutes): bulwark sim as the
# upstream, bulwark serve in front of it, an open-loop generator driving
# both. Figures and method: BENCHMARKS.md. Flags: BENCHFLAGS="-repeats 5".
BENCHFLAGS ?=
bench: build
	go run ./bench/load $(BENCHFLAGS)

# Admission control under overload (about 90 seconds, in process, no
# network): goodput, admitted p99 and shed rates at 0.5–5× the upstream's
# capacity, with admission control on and off. Figures: BENCHMARKS.md.
bench-capacity:
	go run ./bench/capacity $(BENCHFLAGS)

# Memory of `bulwark serve` with 0, 1,000 and 10,000 open client
# connections (idle keep-alives and clients stalled mid-headers), the
# server a separate process (under a minute). Figures: BENCHMARKS.md.
bench-conns:
	go run ./bench/conns $(BENCHFLAGS)

# A short run of every fuzz target (go test runs their seed corpora always).
FUZZTIME ?= 20s
fuzz:
	go test ./api/openai -run '^$$' -fuzz '^FuzzDecodeChat$$' -fuzztime $(FUZZTIME)
	go test ./api/openai -run '^$$' -fuzz '^FuzzDecodeEmbed$$' -fuzztime $(FUZZTIME)
	go test ./config -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	go test ./llm/openai -run '^$$' -fuzz '^FuzzSSE$$' -fuzztime $(FUZZTIME)
	go test ./llm/openai -run '^$$' -fuzz '^FuzzChunk$$' -fuzztime $(FUZZTIME)
	go test ./llm/openai -run '^$$' -fuzz '^FuzzChatResponse$$' -fuzztime $(FUZZTIME)
	go test ./llm/openai -run '^$$' -fuzz '^FuzzRewriteObject$$' -fuzztime $(FUZZTIME)
	go test ./llm/openai -run '^$$' -fuzz '^FuzzParseErrorBody$$' -fuzztime $(FUZZTIME)
	go test ./llm/openai -run '^$$' -fuzz '^FuzzRateLimitHeaders$$' -fuzztime $(FUZZTIME)
	go test ./llm/openai/loadmetrics -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	go test ./llm/sim -run '^$$' -fuzz '^FuzzDecodeChat$$' -fuzztime $(FUZZTIME)
	go test ./llm/sim -run '^$$' -fuzz '^FuzzDecodeEmbed$$' -fuzztime $(FUZZTIME)
	go test ./tenant -run '^$$' -fuzz '^FuzzAuthenticate$$' -fuzztime $(FUZZTIME)
	go test ./tokens -run '^$$' -fuzz '^FuzzCount$$' -fuzztime $(FUZZTIME)
	go test ./redact -run '^$$' -fuzz '^FuzzString$$' -fuzztime $(FUZZTIME)
	go test ./api/openai -run '^$$' -fuzz '^FuzzDecodeRerank$$' -fuzztime $(FUZZTIME)
	go test ./api/openai -run '^$$' -fuzz '^FuzzDecodeResponses$$' -fuzztime $(FUZZTIME)
	go test ./cmd/bulwark -run '^$$' -fuzz '^FuzzParseSitemap$$' -fuzztime $(FUZZTIME)
	go test ./llm/anthropic -run '^$$' -fuzz '^FuzzRateLimitHeaders$$' -fuzztime $(FUZZTIME)
	go test ./llm/anthropic -run '^$$' -fuzz '^FuzzStream$$' -fuzztime $(FUZZTIME)
	go test ./llm/bedrock -run '^$$' -fuzz '^FuzzParseEmbeddings$$' -fuzztime $(FUZZTIME)
	go test ./llm/bedrock -run '^$$' -fuzz '^FuzzStream$$' -fuzztime $(FUZZTIME)
	go test ./llm/gemini -run '^$$' -fuzz '^FuzzStream$$' -fuzztime $(FUZZTIME)
	go test ./llm/local -run '^$$' -fuzz '^FuzzEmbed$$' -fuzztime $(FUZZTIME)
	go test ./llm/oai -run '^$$' -fuzz '^FuzzParseRequest$$' -fuzztime $(FUZZTIME)
	go test ./llm -run '^$$' -fuzz '^FuzzAppendChunkText$$' -fuzztime $(FUZZTIME)
	go test ./llm/sse -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME)
	go test ./rag -run '^$$' -fuzz '^FuzzParseFilter$$' -fuzztime $(FUZZTIME)
	go test ./rag/chunk -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZTIME)
	go test ./rag/parse -run '^$$' -fuzz '^FuzzParseCSV$$' -fuzztime $(FUZZTIME)
	go test ./rag/parse -run '^$$' -fuzz '^FuzzParseDOCX$$' -fuzztime $(FUZZTIME)
	go test ./rag/parse -run '^$$' -fuzz '^FuzzParseHTML$$' -fuzztime $(FUZZTIME)
	go test ./rag/parse -run '^$$' -fuzz '^FuzzParseJSON$$' -fuzztime $(FUZZTIME)
	go test ./rag/parse -run '^$$' -fuzz '^FuzzParseMarkdown$$' -fuzztime $(FUZZTIME)
	go test ./rag/parse -run '^$$' -fuzz '^FuzzParsePDF$$' -fuzztime $(FUZZTIME)
	go test ./rag/parse -run '^$$' -fuzz '^FuzzParseText$$' -fuzztime $(FUZZTIME)
	go test ./vector -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME)
	go test ./tenant -run '^$$' -fuzz '^FuzzParseSnapshot$$' -fuzztime $(FUZZTIME)
	go test ./tenant -run '^$$' -fuzz '^FuzzParseSnapshotBody$$' -fuzztime $(FUZZTIME)
	go test ./gateway -run '^$$' -fuzz '^FuzzGuardStreamMasksLikeTheWholeAnswer$$' -fuzztime $(FUZZTIME)
	go test ./cache -run '^$$' -fuzz '^FuzzChat$$' -fuzztime $(FUZZTIME)
	go test ./llm/sim -run '^$$' -fuzz '^FuzzScriptOf$$' -fuzztime $(FUZZTIME)
	go test ./api -run '^$$' -fuzz '^FuzzRewriteRawError$$' -fuzztime $(FUZZTIME)
	go test ./api/anthropic -run '^$$' -fuzz '^FuzzDecodeMessages$$' -fuzztime $(FUZZTIME)
	go test ./api/openai -run '^$$' -fuzz '^FuzzWithPrompt$$' -fuzztime $(FUZZTIME)
	go test ./prompt -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME)
	go test ./tools -run '^$$' -fuzz '^FuzzGovern$$' -fuzztime $(FUZZTIME)
	go test ./tools -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME)
	go test ./guard -run '^$$' -fuzz '^FuzzScore$$' -fuzztime $(FUZZTIME)
	go test ./batch -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
