package openai

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/rag"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Knowledge serves OpenAI's Files and Vector Stores APIs over the
// knowledge bases. Every object is the calling key's tenant's; another
// tenant's is not found. It is safe for concurrent use.
type Knowledge struct {
	kb *rag.Service
	// maxFile bounds an uploaded file.
	maxFile int64
}

// NewKnowledge returns the Files and Vector Stores API over kb.
func NewKnowledge(kb *rag.Service, maxFile int64) *Knowledge {
	return &Knowledge{kb: kb, maxFile: maxFile}
}

// Uploads returns the routes that take multipart uploads.
func (k *Knowledge) Uploads() map[string]api.AuthedHandler {
	return map[string]api.AuthedHandler{"POST /v1/files": k.createFile, "POST /v1/vector_stores/import": k.importStore}
}

// Routes returns the other routes.
func (k *Knowledge) Routes() map[string]api.AuthedHandler {
	return map[string]api.AuthedHandler{
		"GET /v1/files":                                           k.listFiles,
		"GET /v1/files/{id}":                                      k.getFile,
		"GET /v1/files/{id}/content":                              k.fileContent,
		"DELETE /v1/files/{id}":                                   k.deleteFile,
		"POST /v1/vector_stores":                                  k.createStore,
		"GET /v1/vector_stores":                                   k.listStores,
		"GET /v1/vector_stores/{id}":                              k.getStore,
		"POST /v1/vector_stores/{id}":                             k.updateStore,
		"DELETE /v1/vector_stores/{id}":                           k.deleteStore,
		"POST /v1/vector_stores/{id}/files":                       k.attachFile,
		"GET /v1/vector_stores/{id}/files":                        k.listStoreFiles,
		"GET /v1/vector_stores/{id}/files/{file}":                 k.getStoreFile,
		"POST /v1/vector_stores/{id}/files/{file}":                k.updateStoreFile,
		"GET /v1/vector_stores/{id}/files/{file}/content":         k.storeFileContent,
		"DELETE /v1/vector_stores/{id}/files/{file}":              k.detachFile,
		"POST /v1/vector_stores/{id}/file_batches":                k.createBatch,
		"GET /v1/vector_stores/{id}/file_batches/{batch}":         k.getBatch,
		"POST /v1/vector_stores/{id}/file_batches/{batch}/cancel": k.cancelBatch,
		"GET /v1/vector_stores/{id}/file_batches/{batch}/files":   k.listBatchFiles,
		"POST /v1/vector_stores/{id}/search":                      k.search,
		"GET /v1/vector_stores/{id}/export":                       k.exportStore,
	}
}

// purposes are the purposes OpenAI's Files API takes.
var purposes = []string{"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}

// kbError maps a knowledge-base error to the API's.
func kbError(err error, what string) error {
	switch {
	case errors.Is(err, rag.ErrNotFound):
		return api.Errorf(http.StatusNotFound, api.TypeInvalidRequest, "not_found", "no such %s", what)
	case errors.Is(err, rag.ErrInvalid):
		return api.BadRequest("", "%s", strings.TrimPrefix(err.Error(), rag.ErrInvalid.Error()+": "))
	case errors.Is(err, rag.ErrConflict):
		return api.Errorf(http.StatusConflict, api.TypeInvalidRequest, "conflict", "%s", conflictMessage(err))
	}
	return err
}

// conflictMessage is the part of a conflict error a client may read: the
// operation's prefixes are dropped.
func conflictMessage(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "+rag.ErrConflict.Error()); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

type fileWire struct {
	ID        string  `json:"id"`
	Object    string  `json:"object"`
	Bytes     int64   `json:"bytes"`
	CreatedAt int64   `json:"created_at"`
	Filename  string  `json:"filename"`
	Purpose   string  `json:"purpose"`
	Status    string  `json:"status"`
	ExpiresAt *int64  `json:"expires_at"`
	Details   *string `json:"status_details"`
}

func wireFile(f rag.File) fileWire {
	return fileWire{ID: f.ID, Object: "file", Bytes: f.Bytes, CreatedAt: f.CreatedAt.Unix(), Filename: f.Filename,
		Purpose: f.Purpose, Status: "processed"}
}

// listWire is OpenAI's cursor page.
type listWire[T any] struct {
	Object  string  `json:"object"`
	Data    []T     `json:"data"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
	HasMore bool    `json:"has_more"`
}

func list[T any](data []T, id func(T) string, more bool) listWire[T] {
	l := listWire[T]{Object: "list", Data: data, HasMore: more}
	if l.Data == nil {
		l.Data = []T{}
	}
	if len(data) > 0 {
		first, last := id(data[0]), id(data[len(data)-1])
		l.FirstID, l.LastID = &first, &last
	}
	return l
}

// pageOf reads limit (1..100, default 20 — 10,000 for files), order
// (asc|desc, default desc), after and before.
func pageOf(r *http.Request, maxLimit, defLimit int) (rag.Page, error) {
	q := r.URL.Query()
	p := rag.Page{Limit: defLimit, After: q.Get("after"), Before: q.Get("before"), Desc: true}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, api.BadRequest("limit", "limit must be a number from 1 to %d, got %q", maxLimit, v)
		}
		p.Limit = n
	}
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		p.Desc = false
	default:
		return p, api.BadRequest("order", "order must be asc or desc, got %q", q.Get("order"))
	}
	return p, nil
}

func (k *Knowledge) createFile(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	name, purpose, content, err := k.readUpload(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	f, err := k.kb.CreateFile(r.Context(), p.TenantID, name, purpose, content)
	if err != nil {
		api.WriteError(w, kbError(err, "file"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireFile(f))
}

// readUpload reads a multipart upload: the file part and the purpose. A
// body that is not multipart, a missing part, a file over the limit and an
// unknown purpose are 400s (413 for size) that say which.
func (k *Knowledge) readUpload(r *http.Request) (name, purpose string, content []byte, err error) {
	mt, _, perr := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if perr != nil || mt != "multipart/form-data" {
		return "", "", nil, api.BadRequest("", "upload a file as multipart/form-data with the parts file and purpose")
	}
	mr, merr := r.MultipartReader()
	if merr != nil {
		return "", "", nil, api.BadRequest("", "the multipart body is malformed: %v", merr)
	}
	for {
		part, perr := mr.NextPart()
		if perr == io.EOF {
			break
		}
		if perr != nil {
			return "", "", nil, uploadError(perr, k.maxFile)
		}
		switch part.FormName() {
		case "file":
			if content != nil {
				return "", "", nil, api.BadRequest("file", "send one file per upload")
			}
			name = part.FileName()
			if name == "" {
				return "", "", nil, api.BadRequest("file", "the file part has no filename")
			}
			content, err = io.ReadAll(io.LimitReader(part, k.maxFile+1))
			if err != nil {
				return "", "", nil, uploadError(err, k.maxFile)
			}
			if int64(len(content)) > k.maxFile {
				return "", "", nil, api.Errorf(http.StatusRequestEntityTooLarge, api.TypeInvalidRequest, "file_too_large",
					"the file is larger than the limit of %d bytes", k.maxFile)
			}
			if content == nil {
				content = []byte{}
			}
		case "purpose":
			b, rerr := io.ReadAll(io.LimitReader(part, 64))
			if rerr != nil {
				return "", "", nil, uploadError(rerr, k.maxFile)
			}
			purpose = string(b)
		default:
			// Parts OpenAI added later (expires_after) are read past.
			if _, err := io.Copy(io.Discard, io.LimitReader(part, 1<<16)); err != nil {
				return "", "", nil, uploadError(err, k.maxFile)
			}
		}
	}
	switch {
	case content == nil:
		return "", "", nil, api.BadRequest("file", "the upload has no file part")
	case purpose == "":
		return "", "", nil, api.BadRequest("purpose", "the upload has no purpose; one of %s", strings.Join(purposes, ", "))
	}
	for _, ok := range purposes {
		if purpose == ok {
			return name, purpose, content, nil
		}
	}
	return "", "", nil, api.BadRequest("purpose", "purpose must be one of %s, got %q", strings.Join(purposes, ", "), purpose)
}

// uploadError is a failure reading an upload: the body over the server's
// limit is a 413, anything else a 400.
func uploadError(err error, max int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return api.Errorf(http.StatusRequestEntityTooLarge, api.TypeInvalidRequest, "request_too_large",
			"the upload is larger than the limit of %d bytes", mbe.Limit)
	}
	if rerr := api.ReadError(err); rerr != nil {
		return rerr
	}
	return api.BadRequest("", "%s", fmt.Sprintf("the multipart body is malformed: %v", err))
}

func (k *Knowledge) listFiles(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	pg, err := pageOf(r, 10000, 10000)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	files, more, err := k.kb.Files(r.Context(), p.TenantID, r.URL.Query().Get("purpose"), pg)
	if err != nil {
		api.WriteError(w, kbError(err, "file"))
		return
	}
	out := make([]fileWire, len(files))
	for i, f := range files {
		out[i] = wireFile(f)
	}
	api.WriteJSON(w, http.StatusOK, list(out, func(f fileWire) string { return f.ID }, more))
}

func (k *Knowledge) getFile(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	f, err := k.kb.File(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		api.WriteError(w, kbError(err, "file"))
		return
	}
	api.WriteJSON(w, http.StatusOK, wireFile(f))
}

func (k *Knowledge) fileContent(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	b, err := k.kb.FileContent(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		api.WriteError(w, kbError(err, "file"))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

type deletedWire struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

func (k *Knowledge) deleteFile(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	id := r.PathValue("id")
	if err := k.kb.DeleteFile(r.Context(), p.TenantID, id); err != nil {
		api.WriteError(w, kbError(err, "file"))
		return
	}
	api.WriteJSON(w, http.StatusOK, deletedWire{ID: id, Object: "file", Deleted: true})
}
