package openai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/bulwark-ai/bulwark/gateway"
	"github.com/bulwark-ai/bulwark/llm"
)

// A grounded alias's answer (gateway/ground.go) says what it was grounded
// in, in Bulwark's extension field "bulwark", which OpenAI's SDKs keep
// (Python: completion.model_extra, Node: the parsed object):
//
//	"bulwark": {"citations": [{"index": 1, "vector_store_id": "vs_…",
//	  "file_id": "file-…", "filename": "…", "page": 3, "section": "…",
//	  "score": 0.82, "text": "…"}], "retrieval_ms": 41}
//
// index is the number the model cites as [index]. A plain answer carries
// it at the top level; a stream in its first chunk. An answer without context
// because retrieval failed has "degraded": "<reason>" instead, and the
// X-Bulwark-Degraded: retrieval header.

// HeaderRetrievalChunks is how many chunks a grounded answer was given.
const HeaderRetrievalChunks = "X-Bulwark-Retrieval-Chunks"

// groundingWire is the "bulwark" extension of a grounded answer.
type groundingWire struct {
	Citations   []citationWire `json:"citations"`
	Degraded    string         `json:"degraded,omitempty"`
	RetrievalMS int64          `json:"retrieval_ms"`
}

type citationWire struct {
	Index         int     `json:"index"`
	VectorStoreID string  `json:"vector_store_id"`
	FileID        string  `json:"file_id"`
	Filename      string  `json:"filename"`
	Page          int     `json:"page,omitempty"`
	Section       string  `json:"section,omitempty"`
	Score         float64 `json:"score"`
	Text          string  `json:"text"`
}

func groundingOf(g *gateway.Grounding) groundingWire {
	w := groundingWire{Citations: make([]citationWire, len(g.Sources)), Degraded: g.Degraded, RetrievalMS: g.Took.Milliseconds()}
	for i, s := range g.Sources {
		w.Citations[i] = citationWire{Index: i + 1, VectorStoreID: s.StoreID, FileID: s.FileID, Filename: s.Filename,
			Page: s.Page, Section: s.Section, Score: s.Score, Text: s.Text}
	}
	return w
}

// setGrounding writes a grounded answer's headers.
func setGrounding(hdr http.Header, g *gateway.Grounding) {
	if g == nil {
		return
	}
	if g.Degraded != "" {
		hdr.Set(gateway.HeaderDegraded, "retrieval")
		return
	}
	hdr.Set(HeaderRetrievalChunks, strconv.Itoa(len(g.Sources)))
}

// withGrounding adds the "bulwark" extension to an answer's JSON object;
// an answer that is not an object is left as it is.
func withGrounding(body []byte, g *gateway.Grounding) []byte {
	if g == nil {
		return body
	}
	ext, err := json.Marshal(groundingOf(g))
	if err != nil {
		return body
	}
	b := bytes.TrimRight(body, " \t\r\n")
	if len(b) < 2 || b[len(b)-1] != '}' {
		return body
	}
	out := make([]byte, 0, len(b)+len(ext)+16)
	out = append(out, b[:len(b)-1]...)
	if len(bytes.TrimSpace(b[1:len(b)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"bulwark":`...)
	out = append(out, ext...)
	return append(out, '}')
}

// groundedStream adds the "bulwark" extension to a grounded stream's
// first chunk: a chunk of its own would need the stream's id, which the
// SDKs' accumulators check every chunk against.
type groundedStream struct {
	llm.Stream
	g    *gateway.Grounding
	done bool
}

func (s *groundedStream) Recv() (*llm.Chunk, error) {
	c, err := s.Stream.Recv()
	if err != nil || s.done {
		return c, err
	}
	s.done = true
	d := *c
	d.Data = withGrounding(c.Data, s.g)
	return &d, nil
}
