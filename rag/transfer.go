package rag

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/bulwark-ai/bulwark/rag/chunk"
)

// A knowledge base moves between Bulwark servers, and between the embedded
// and the scaled shape, as an export: JSON lines, a header naming the
// store and its embedding model, then one line per completed file with
// its content, attributes, chunking strategy and chunks with their
// vectors, so that an import embeds nothing again. Files not completed
// are left out (the header counts them).

// ExportFormat names the format of an export's header.
const ExportFormat = "bulwark.vector_store.v1"

// maxExportLine bounds one line of an import: a file's content (base64)
// with its chunks and vectors.
const maxExportLine = 256 << 20

type exportHeader struct {
	Format     string            `json:"format"`
	Name       string            `json:"name"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	EmbedModel string            `json:"embedding_model"`
	Files      int               `json:"files"`
	// Skipped are the files not exported: in progress, failed or
	// cancelled.
	Skipped   int       `json:"skipped"`
	CreatedAt time.Time `json:"created_at"`
}

type exportFile struct {
	Filename   string         `json:"filename"`
	Purpose    string         `json:"purpose"`
	CreatedAt  time.Time      `json:"created_at"`
	Content    []byte         `json:"content"`
	Attributes map[string]any `json:"attributes,omitempty"`
	Chunking   chunk.Strategy `json:"chunking_strategy"`
	Chunks     []exportChunk  `json:"chunks"`
}

type exportChunk struct {
	Index   int       `json:"index"`
	Text    string    `json:"text"`
	Page    int       `json:"page,omitempty"`
	Section string    `json:"section,omitempty"`
	Hash    string    `json:"hash"`
	Tokens  int       `json:"tokens"`
	Vector  []float32 `json:"vector"`
}

// Export writes a tenant's vector store to w (see above).
func (s *Service) Export(ctx context.Context, tenantID, storeID string, w io.Writer) error {
	st, err := s.repo.Store(ctx, tenantID, storeID)
	if err != nil {
		return err
	}
	var files []StoreFile
	for p := (Page{Limit: 100}); ; {
		page, more, err := s.repo.StoreFiles(ctx, tenantID, storeID, "", Completed, p)
		if err != nil {
			return err
		}
		files = append(files, page...)
		if !more || len(page) == 0 {
			break
		}
		p.After = page[len(page)-1].FileID
	}
	enc := json.NewEncoder(w)
	h := exportHeader{Format: ExportFormat, Name: st.Name, Metadata: st.Metadata, EmbedModel: st.EmbedModel,
		Files: len(files), Skipped: st.Counts.Total() - len(files), CreatedAt: st.CreatedAt}
	if err := enc.Encode(h); err != nil {
		return err
	}
	for _, sf := range files {
		f, err := s.repo.File(ctx, tenantID, sf.FileID)
		if err != nil {
			return err
		}
		content, err := s.repo.FileContent(ctx, tenantID, sf.FileID)
		if err != nil {
			return err
		}
		chunks, err := s.repo.FileChunks(ctx, storeID, sf.FileID)
		if err != nil {
			return err
		}
		hashes := make([]string, len(chunks))
		for i, c := range chunks {
			hashes[i] = c.Hash
		}
		vecs, err := s.repo.VectorsByHash(ctx, storeID, hashes)
		if err != nil {
			return err
		}
		ef := exportFile{Filename: f.Filename, Purpose: f.Purpose, CreatedAt: f.CreatedAt, Content: content,
			Attributes: sf.Attributes, Chunking: sf.Chunking, Chunks: make([]exportChunk, len(chunks))}
		for i, c := range chunks {
			v := vecs[c.Hash]
			if v == nil {
				return fmt.Errorf("export %s: chunk %d of file %s has no vector", storeID, c.Index, sf.FileID)
			}
			ef.Chunks[i] = exportChunk{Index: c.Index, Text: c.Text, Page: c.Page, Section: c.Section, Hash: c.Hash, Tokens: c.Tokens, Vector: v}
		}
		if err := enc.Encode(ef); err != nil {
			return err
		}
	}
	return nil
}

// Import reads an export into a new vector store of the tenant (named
// name, or as exported) and returns it. Its files are stored with their
// chunks and vectors as exported, nothing embedded again; the store keeps
// the exported embedding model, which must be an alias this server
// serves for its searches to work. An import cut short leaves the files
// read so far, those whose chunks were not stored in progress (ingestion
// finishes them, embedding what is missing).
func (s *Service) Import(ctx context.Context, tenantID, name string, r io.Reader) (Store, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), maxExportLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return Store{}, fmt.Errorf("%w: read the export: %w", ErrInvalid, err)
		}
		return Store{}, fmt.Errorf("%w: the export is empty", ErrInvalid)
	}
	var h exportHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Format != ExportFormat {
		return Store{}, fmt.Errorf("%w: not a vector store export (the first line must be a header of format %s)", ErrInvalid, ExportFormat)
	}
	if h.EmbedModel == "" {
		return Store{}, fmt.Errorf("%w: the export names no embedding model", ErrInvalid)
	}
	if name == "" {
		name = h.Name
	}
	st := Store{ID: newID("vs_"), TenantID: tenantID, Name: name, Metadata: h.Metadata, EmbedModel: h.EmbedModel, CreatedAt: time.Now().UTC()}
	if err := s.repo.PutStore(ctx, st); err != nil {
		return Store{}, err
	}
	idx, err := s.index(ctx, st)
	if err != nil {
		return Store{}, err
	}
	for line := 2; sc.Scan(); line++ {
		var ef exportFile
		if err := json.Unmarshal(sc.Bytes(), &ef); err != nil {
			return Store{}, fmt.Errorf("%w: export line %d: %w", ErrInvalid, line, err)
		}
		if err := s.importFile(ctx, idx, st, ef); err != nil {
			return Store{}, fmt.Errorf("export line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return Store{}, fmt.Errorf("%w: read the export: %w", ErrInvalid, err)
	}
	return s.repo.Store(ctx, tenantID, st.ID)
}

// importFile stores one exported file in st with its chunks.
func (s *Service) importFile(ctx context.Context, idx *index, st Store, ef exportFile) error {
	if ef.Filename == "" || ef.Content == nil {
		return fmt.Errorf("%w: a file without filename or content", ErrInvalid)
	}
	if err := checkChunking(ef.Chunking); err != nil {
		return err
	}
	if err := ValidateAttributes(ef.Attributes); err != nil {
		return err
	}
	dim := idx.dimension()
	for i, c := range ef.Chunks {
		if c.Index != i || len(c.Vector) == 0 || dim != 0 && len(c.Vector) != dim {
			return fmt.Errorf("%w: chunk %d of %s is out of order or its vector is missing or of another dimension", ErrInvalid, i, ef.Filename)
		}
		if dim == 0 {
			dim = len(c.Vector)
		}
	}
	sum := sha256.Sum256(ef.Content)
	f := File{ID: newID("file-"), TenantID: st.TenantID, Filename: ef.Filename, Purpose: ef.Purpose, Bytes: int64(len(ef.Content)),
		SHA256: hex.EncodeToString(sum[:]), CreatedAt: ef.CreatedAt}
	if f.Purpose == "" {
		f.Purpose = "assistants"
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = time.Now().UTC()
	}
	if err := s.repo.PutFile(ctx, f, ef.Content); err != nil {
		return err
	}
	sf := StoreFile{StoreID: st.ID, FileID: f.ID, TenantID: st.TenantID, Status: InProgress, Chunking: ef.Chunking,
		Attributes: ef.Attributes, CreatedAt: time.Now().UTC()}
	if err := s.repo.AttachFile(ctx, sf); err != nil {
		return err
	}
	idx.setFile(f.ID, f.Filename, ef.Attributes)
	chunks := make([]Chunk, len(ef.Chunks))
	for i, c := range ef.Chunks {
		chunks[i] = Chunk{StoreID: st.ID, FileID: f.ID, Index: c.Index, Text: c.Text, Page: c.Page, Section: c.Section,
			Hash: c.Hash, Tokens: c.Tokens, Vector: c.Vector}
	}
	for start := 0; start < len(chunks); start += 256 {
		batch := chunks[start:min(start+256, len(chunks))]
		replaced, err := s.repo.PutChunks(ctx, batch)
		if err != nil {
			return err
		}
		if err := idx.update(context.WithoutCancel(ctx), batch, replaced); err != nil {
			return err
		}
	}
	if _, err := s.repo.SetStatus(ctx, st.ID, f.ID, Completed, nil); err != nil {
		return err
	}
	return nil
}
