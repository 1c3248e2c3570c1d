package openai

import (
	"net/http"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Bulwark's extension of the Vector Stores API (rag/transfer.go): a store
// is exported with its files, chunks and vectors as JSON lines, and
// imported as a new store of the caller's tenant, embedding nothing again,
// so that a knowledge base moves between servers and between the embedded
// and the scaled shape.
//
//	GET  /v1/vector_stores/{id}/export          application/x-ndjson
//	POST /v1/vector_stores/import?name=NAME     the export as the body

func (k *Knowledge) exportStore(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("id")
	ew := &exportWriter{w: w, id: id}
	if err := k.kb.Export(r.Context(), p.TenantID, id, ew); err != nil {
		if !ew.started {
			// Nothing written: a missing store is a 404 like any other.
			api.WriteError(w, kbError(err, "vector store"))
			return
		}
		// The status is out: the client sees a cut body (no last line
		// for the last file), and the import of it fails.
		panic(http.ErrAbortHandler)
	}
}

// exportWriter sends an export's headers with its first bytes, so that
// an export that fails before it starts is an ordinary error response.
type exportWriter struct {
	w       http.ResponseWriter
	id      string
	started bool
}

func (e *exportWriter) Write(b []byte) (int, error) {
	if !e.started {
		e.started = true
		e.w.Header().Set("Content-Type", "application/x-ndjson")
		e.w.Header().Set("Content-Disposition", `attachment; filename="`+e.id+`.jsonl"`)
	}
	return e.w.Write(b)
}

func (k *Knowledge) importStore(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	name := r.URL.Query().Get("name")
	if len(name) > 256 {
		api.WriteError(w, api.BadRequest("name", "name is longer than 256 characters"))
		return
	}
	st, err := k.kb.Import(r.Context(), p.TenantID, name, r.Body)
	if err != nil {
		if rerr := api.ReadError(err); rerr != nil {
			api.WriteError(w, rerr)
			return
		}
		api.WriteError(w, kbError(err, "vector store"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireStore(st))
}
