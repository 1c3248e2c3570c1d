package openai

import (
	"encoding/json"
	"net/http"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/rag/chunk"
	"github.com/bulwark-ai/bulwark/tenant"
)

type countsWire struct {
	InProgress int `json:"in_progress"`
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
	Cancelled  int `json:"cancelled"`
	Total      int `json:"total"`
}

func wireCounts(c rag.FileCounts) countsWire {
	return countsWire{InProgress: c.InProgress, Completed: c.Completed, Failed: c.Failed, Cancelled: c.Cancelled, Total: c.Total()}
}

type storeWire struct {
	ID           string            `json:"id"`
	Object       string            `json:"object"`
	CreatedAt    int64             `json:"created_at"`
	Name         string            `json:"name"`
	UsageBytes   int64             `json:"usage_bytes"`
	FileCounts   countsWire        `json:"file_counts"`
	Status       string            `json:"status"`
	ExpiresAfter *struct{}         `json:"expires_after"`
	ExpiresAt    *int64            `json:"expires_at"`
	LastActiveAt int64             `json:"last_active_at"`
	Metadata     map[string]string `json:"metadata"`
	// EmbeddingModel is Bulwark's: the alias the store embeds with.
	EmbeddingModel string `json:"embedding_model"`
}

func wireStore(s rag.Store) storeWire {
	status := "completed"
	if s.Counts.InProgress > 0 {
		status = "in_progress"
	}
	meta := s.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	return storeWire{ID: s.ID, Object: "vector_store", CreatedAt: s.CreatedAt.Unix(), Name: s.Name, UsageBytes: s.UsageBytes,
		FileCounts: wireCounts(s.Counts), Status: status, LastActiveAt: s.LastActiveAt.Unix(), Metadata: meta, EmbeddingModel: s.EmbedModel}
}

type createStoreWire struct {
	Name         string            `json:"name"`
	FileIDs      []string          `json:"file_ids"`
	Metadata     map[string]string `json:"metadata"`
	Chunking     *chunk.Strategy   `json:"chunking_strategy"`
	ExpiresAfter json.RawMessage   `json:"expires_after"`
	Description  string            `json:"description"`
}

func (k *Knowledge) createStore(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	var req createStoreWire
	if err := api.DecodeJSON(r, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	if len(req.ExpiresAfter) > 0 && string(req.ExpiresAfter) != "null" {
		api.WriteError(w, api.BadRequest("expires_after", "expires_after is not supported: Bulwark's vector stores do not expire; delete one when done"))
		return
	}
	if err := checkMetadata(req.Metadata); err != nil {
		api.WriteError(w, err)
		return
	}
	s, err := k.kb.CreateStore(r.Context(), p.TenantID, req.Name, req.Metadata, req.FileIDs, strategy(req.Chunking))
	if err != nil {
		api.WriteError(w, kbError(err, "file"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireStore(s))
}

// checkMetadata bounds metadata as OpenAI does: 16 pairs, keys of up to 64
// characters, values of up to 512.
func checkMetadata(m map[string]string) error {
	if len(m) > 16 {
		return api.BadRequest("metadata", "metadata holds at most 16 pairs, got %d", len(m))
	}
	for k, v := range m {
		if len(k) > 64 || len(v) > 512 {
			return api.BadRequest("metadata", "metadata keys are at most 64 characters and values at most 512 (key %q)", k)
		}
	}
	return nil
}

func (k *Knowledge) listStores(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	pg, err := pageOf(r, 100, 20)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	stores, more, err := k.kb.Stores(r.Context(), p.TenantID, pg)
	if err != nil {
		api.WriteError(w, kbError(err, "vector store"))
		return
	}
	out := make([]storeWire, len(stores))
	for i, s := range stores {
		out[i] = wireStore(s)
	}
	api.WriteJSON(w, http.StatusOK, list(out, func(s storeWire) string { return s.ID }, more))
}

func (k *Knowledge) getStore(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	s, err := k.kb.Store(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		api.WriteError(w, kbError(err, "vector store"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireStore(s))
}

func (k *Knowledge) updateStore(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	var req struct {
		Name         *string           `json:"name"`
		Metadata     map[string]string `json:"metadata"`
		ExpiresAfter json.RawMessage   `json:"expires_after"`
	}
	if err := api.DecodeJSON(r, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	if len(req.ExpiresAfter) > 0 && string(req.ExpiresAfter) != "null" {
		api.WriteError(w, api.BadRequest("expires_after", "expires_after is not supported: Bulwark's vector stores do not expire"))
		return
	}
	if err := checkMetadata(req.Metadata); err != nil {
		api.WriteError(w, err)
		return
	}
	s, err := k.kb.UpdateStore(r.Context(), p.TenantID, r.PathValue("id"), req.Name, req.Metadata)
	if err != nil {
		api.WriteError(w, kbError(err, "vector store"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireStore(s))
}

func (k *Knowledge) deleteStore(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("id")
	if err := k.kb.DeleteStore(r.Context(), p.TenantID, id); err != nil {
		api.WriteError(w, kbError(err, "vector store"))
		return
	}
	api.WriteJSON(w, http.StatusOK, deletedWire{ID: id, Object: "vector_store.deleted", Deleted: true})
}

type storeFileWire struct {
	ID         string         `json:"id"`
	Object     string         `json:"object"`
	UsageBytes int64          `json:"usage_bytes"`
	CreatedAt  int64          `json:"created_at"`
	StoreID    string         `json:"vector_store_id"`
	Status     string         `json:"status"`
	LastError  *rag.FileError `json:"last_error"`
	Chunking   chunk.Strategy `json:"chunking_strategy"`
	Attributes map[string]any `json:"attributes"`
}

func wireStoreFile(f rag.StoreFile) storeFileWire {
	attrs := f.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	return storeFileWire{ID: f.FileID, Object: "vector_store.file", UsageBytes: f.UsageBytes, CreatedAt: f.CreatedAt.Unix(),
		StoreID: f.StoreID, Status: string(f.Status), LastError: f.LastError, Chunking: f.Chunking, Attributes: attrs}
}

func (k *Knowledge) attachFile(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	var req struct {
		FileID     string          `json:"file_id"`
		Chunking   *chunk.Strategy `json:"chunking_strategy"`
		Attributes map[string]any  `json:"attributes"`
	}
	if err := api.DecodeJSON(r, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	if req.FileID == "" {
		api.WriteError(w, api.BadRequest("file_id", "file_id is required"))
		return
	}
	f, err := k.kb.AttachFile(r.Context(), p.TenantID, r.PathValue("id"), req.FileID, strategy(req.Chunking), req.Attributes)
	if err != nil {
		api.WriteError(w, kbError(err, "vector store or file"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireStoreFile(f))
}

// statusFilter reads the filter query parameter of a files list.
func statusFilter(r *http.Request) (rag.Status, error) {
	s := rag.Status(r.URL.Query().Get("filter"))
	switch s {
	case "", rag.InProgress, rag.Completed, rag.Failed, rag.Cancelled:
		return s, nil
	}
	return "", api.BadRequest("filter", "filter must be in_progress, completed, failed or cancelled, got %q", s)
}

func (k *Knowledge) listStoreFiles(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	k.listFilesOf(w, r, p, "")
}

func (k *Knowledge) listBatchFiles(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	if _, err := k.kb.Batch(r.Context(), p.TenantID, r.PathValue("id"), r.PathValue("batch")); err != nil {
		api.WriteError(w, kbError(err, "file batch"))
		return
	}
	k.listFilesOf(w, r, p, r.PathValue("batch"))
}

func (k *Knowledge) listFilesOf(w http.ResponseWriter, r *http.Request, p tenant.Principal, batch string) {
	pg, err := pageOf(r, 100, 20)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	status, err := statusFilter(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	files, more, err := k.kb.StoreFiles(r.Context(), p.TenantID, r.PathValue("id"), batch, status, pg)
	if err != nil {
		api.WriteError(w, kbError(err, "vector store"))
		return
	}
	out := make([]storeFileWire, len(files))
	for i, f := range files {
		out[i] = wireStoreFile(f)
	}
	api.WriteJSON(w, http.StatusOK, list(out, func(f storeFileWire) string { return f.ID }, more))
}

func (k *Knowledge) getStoreFile(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	f, err := k.kb.StoreFile(r.Context(), p.TenantID, r.PathValue("id"), r.PathValue("file"))
	if err != nil {
		api.WriteError(w, kbError(err, "vector store file"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireStoreFile(f))
}

// updateStoreFile replaces a store file's attributes: {"attributes":
// {...}}, null to clear them.
func (k *Knowledge) updateStoreFile(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	var req struct {
		Attributes json.RawMessage `json:"attributes"`
	}
	if err := api.DecodeJSON(r, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	if req.Attributes == nil {
		api.WriteError(w, api.BadRequest("attributes", "attributes is required (null clears them)"))
		return
	}
	var attrs map[string]any
	if err := json.Unmarshal(req.Attributes, &attrs); err != nil {
		api.WriteError(w, api.BadRequest("attributes", "attributes must be an object of strings, numbers and booleans"))
		return
	}
	f, err := k.kb.UpdateFileAttributes(r.Context(), p.TenantID, r.PathValue("id"), r.PathValue("file"), attrs)
	if err != nil {
		api.WriteError(w, kbError(err, "vector store file"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireStoreFile(f))
}

type contentPartWire struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type contentPageWire struct {
	Object   string            `json:"object"`
	Data     []contentPartWire `json:"data"`
	HasMore  bool              `json:"has_more"`
	NextPage *string           `json:"next_page"`
}

// storeFileContent returns a store file's parsed content as the store
// holds it: its chunks' texts in order, one text part each (a chunk
// repeats its overlap with the one before).
func (k *Knowledge) storeFileContent(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	chunks, err := k.kb.StoreFileChunks(r.Context(), p.TenantID, r.PathValue("id"), r.PathValue("file"))
	if err != nil {
		api.WriteError(w, kbError(err, "vector store file"))
		return
	}
	out := contentPageWire{Object: "vector_store.file_content.page", Data: make([]contentPartWire, len(chunks))}
	for i, c := range chunks {
		out.Data[i] = contentPartWire{Type: "text", Text: c.Text}
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (k *Knowledge) detachFile(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("file")
	if err := k.kb.DetachFile(r.Context(), p.TenantID, r.PathValue("id"), id); err != nil {
		api.WriteError(w, kbError(err, "vector store file"))
		return
	}
	api.WriteJSON(w, http.StatusOK, deletedWire{ID: id, Object: "vector_store.file.deleted", Deleted: true})
}

type batchWire struct {
	ID         string     `json:"id"`
	Object     string     `json:"object"`
	CreatedAt  int64      `json:"created_at"`
	StoreID    string     `json:"vector_store_id"`
	Status     string     `json:"status"`
	FileCounts countsWire `json:"file_counts"`
}

func wireBatch(b rag.Batch) batchWire {
	return batchWire{ID: b.ID, Object: "vector_store.files_batch", CreatedAt: b.CreatedAt.Unix(), StoreID: b.StoreID,
		Status: string(b.Status), FileCounts: wireCounts(b.Counts)}
}

// batchFileWire is an entry of a batch's files: a file with its own
// attributes and chunking strategy.
type batchFileWire struct {
	FileID     string          `json:"file_id"`
	Chunking   *chunk.Strategy `json:"chunking_strategy"`
	Attributes map[string]any  `json:"attributes"`
}

// createBatch takes file_ids, with attributes and a chunking strategy for
// all of them, or files, each with its own (OpenAI's newer form); one or
// the other, up to rag.MaxBatchFiles.
func (k *Knowledge) createBatch(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	var req struct {
		FileIDs    []string        `json:"file_ids"`
		Files      []batchFileWire `json:"files"`
		Chunking   *chunk.Strategy `json:"chunking_strategy"`
		Attributes map[string]any  `json:"attributes"`
	}
	if err := api.DecodeJSON(r, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	var (
		b   rag.Batch
		err error
	)
	switch {
	case req.FileIDs != nil && req.Files != nil:
		err = api.BadRequest("files", "file_ids and files are mutually exclusive; send one")
	case req.Files != nil && (req.Chunking != nil || req.Attributes != nil):
		err = api.BadRequest("files", "with files, give each file its own attributes and chunking_strategy; the batch's apply to file_ids only")
	case req.Files != nil:
		files := make([]rag.BatchFile, len(req.Files))
		for i, f := range req.Files {
			files[i] = rag.BatchFile{FileID: f.FileID, Chunking: strategy(f.Chunking), Attributes: f.Attributes}
		}
		b, err = k.kb.CreateBatchOf(r.Context(), p.TenantID, r.PathValue("id"), files)
	case req.FileIDs == nil:
		err = api.BadRequest("file_ids", "file_ids or files is required")
	default:
		b, err = k.kb.CreateBatch(r.Context(), p.TenantID, r.PathValue("id"), req.FileIDs, strategy(req.Chunking), req.Attributes)
	}
	if err != nil {
		api.WriteError(w, kbError(err, "vector store or file"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireBatch(b))
}

func (k *Knowledge) getBatch(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	b, err := k.kb.Batch(r.Context(), p.TenantID, r.PathValue("id"), r.PathValue("batch"))
	if err != nil {
		api.WriteError(w, kbError(err, "file batch"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireBatch(b))
}

func (k *Knowledge) cancelBatch(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	b, err := k.kb.CancelBatch(r.Context(), p.TenantID, r.PathValue("id"), r.PathValue("batch"))
	if err != nil {
		api.WriteError(w, kbError(err, "file batch"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireBatch(b))
}

// strategy is the chunking strategy a request gave, auto when none.
func strategy(s *chunk.Strategy) chunk.Strategy {
	if s == nil {
		return chunk.Strategy{Type: chunk.Auto}
	}
	return *s
}
