// Package ragtest is the conformance suite every rag.Repo passes: the
// embedded (sqlite) and the scaled (postgres) knowledge-base stores are
// checked by the same tests.
package ragtest

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-ai/bulwark/rag"
)

// Run checks the contract of rag.Repo. newRepo returns an empty repo for
// one subtest; it is called once per subtest.
func Run(t *testing.T, newRepo func(t *testing.T) rag.Repo) {
	tests := []struct {
		name string
		fn   func(*testing.T, rag.Repo)
	}{
		{"Files", testFiles},
		{"FilePages", testFilePages},
		{"Stores", testStores},
		{"StorePages", testStorePages},
		{"Attach", testAttach},
		{"StoreFiles", testStoreFiles},
		{"Pending", testPending},
		{"Leases", testLeases},
		{"Batches", testBatches},
		{"LargeBatch", testLargeBatch},
		{"UpdateAttributes", testUpdateAttributes},
		{"FileChunks", testFileChunks},
		{"Chunks", testChunks},
		{"PutChunksConflict", testPutChunksConflict},
		{"KeysNeverReused", testKeysNeverReused},
		{"Keyword", testKeyword},
		{"KeywordRanking", testKeywordRanking},
		{"Detach", testDetach},
		{"DeleteFile", testDeleteFile},
		{"DeleteStore", testDeleteStore},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newRepo(t)) })
	}
}

// base is the creation time of the first object; times are whole
// microseconds so that every backend keeps them exactly.
var base = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func at(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v; want %v", what, err, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func putFile(t *testing.T, r rag.Repo, tenantID, id string, i int) rag.File {
	t.Helper()
	f := rag.File{ID: id, TenantID: tenantID, Filename: id + ".txt", Purpose: "assistants",
		Bytes: int64(len(id)), SHA256: fmt.Sprintf("%064x", i), CreatedAt: at(i)}
	must(t, "PutFile "+id, r.PutFile(t.Context(), f, []byte("content of "+id)))
	return f
}

func putStore(t *testing.T, r rag.Repo, tenantID, id string, i int) rag.Store {
	t.Helper()
	s := rag.Store{ID: id, TenantID: tenantID, Name: "store " + id, EmbedModel: "embed",
		Metadata: map[string]string{"team": "search"}, CreatedAt: at(i)}
	must(t, "PutStore "+id, r.PutStore(t.Context(), s))
	return s
}

func attach(t *testing.T, r rag.Repo, tenantID, storeID, fileID string, i int) {
	t.Helper()
	sf := rag.StoreFile{StoreID: storeID, FileID: fileID, TenantID: tenantID,
		Chunking: staticChunking(100, 10), CreatedAt: at(i)}
	must(t, "AttachFile "+storeID+"/"+fileID, r.AttachFile(t.Context(), sf))
}

// vec is a distinct vector for chunk i.
func vec(i int) []float32 { return []float32{float32(i), -0.5, 1.0 / float32(i+3), 3e-7} }

func mkChunk(storeID, fileID string, i int, text string) rag.Chunk {
	return rag.Chunk{StoreID: storeID, FileID: fileID, Index: i, Text: text, Page: i + 1,
		Section: fmt.Sprintf("§%d", i), Hash: fmt.Sprintf("h-%s-%d", fileID, i), Tokens: 3 + i, Vector: vec(i)}
}

func putChunks(t *testing.T, r rag.Repo, chunks ...rag.Chunk) []rag.Chunk {
	t.Helper()
	replaced, err := r.PutChunks(t.Context(), chunks)
	must(t, "PutChunks", err)
	if len(replaced) != 0 {
		t.Fatalf("PutChunks of new chunks replaced %v", replaced)
	}
	for i, c := range chunks {
		if c.Key == 0 {
			t.Fatalf("PutChunks left chunk %d without a key", i)
		}
	}
	return chunks
}

func keysOf(chunks []rag.Chunk) []uint64 {
	var out []uint64
	for _, c := range chunks {
		out = append(out, c.Key)
	}
	return out
}

func sorted(keys []uint64) []uint64 {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	return keys
}

func testFiles(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	f := putFile(t, r, "acme", "file-a", 0)
	wantErr(t, "PutFile twice", r.PutFile(ctx, f, []byte("x")), rag.ErrConflict)
	other := f
	other.TenantID = "globex"
	wantErr(t, "PutFile of the same id by another tenant", r.PutFile(ctx, other, []byte("x")), rag.ErrConflict)

	got, err := r.File(ctx, "acme", "file-a")
	must(t, "File", err)
	if got.ID != f.ID || got.TenantID != f.TenantID || got.Filename != f.Filename || got.Purpose != f.Purpose ||
		got.Bytes != f.Bytes || got.SHA256 != f.SHA256 || !got.CreatedAt.Equal(f.CreatedAt) {
		t.Errorf("File = %+v; want %+v", got, f)
	}
	_, err = r.File(ctx, "globex", "file-a")
	wantErr(t, "File of another tenant", err, rag.ErrNotFound)
	_, err = r.File(ctx, "acme", "nope")
	wantErr(t, "File missing", err, rag.ErrNotFound)

	content, err := r.FileContent(ctx, "acme", "file-a")
	if err != nil || string(content) != "content of file-a" {
		t.Errorf("FileContent = %q, %v", content, err)
	}
	_, err = r.FileContent(ctx, "globex", "file-a")
	wantErr(t, "FileContent of another tenant", err, rag.ErrNotFound)

	// Binary content round-trips byte for byte.
	bin := []byte{0, 1, 2, 0xff, 0xfe, 0, '\n'}
	must(t, "PutFile binary", r.PutFile(ctx, rag.File{ID: "file-bin", TenantID: "acme", Filename: "b.bin",
		Purpose: "assistants", Bytes: int64(len(bin)), SHA256: "x", CreatedAt: at(1)}, bin))
	if got, err := r.FileContent(ctx, "acme", "file-bin"); err != nil || string(got) != string(bin) {
		t.Errorf("FileContent binary = %v, %v; want %v", got, err, bin)
	}

	_, err = r.DeleteFile(ctx, "globex", "file-a")
	wantErr(t, "DeleteFile of another tenant", err, rag.ErrNotFound)
	if _, err := r.File(ctx, "acme", "file-a"); err != nil {
		t.Fatalf("another tenant's DeleteFile removed the file: %v", err)
	}
	removed, err := r.DeleteFile(ctx, "acme", "file-a")
	if err != nil || len(removed) != 0 {
		t.Fatalf("DeleteFile = %v, %v; want no chunks", removed, err)
	}
	_, err = r.File(ctx, "acme", "file-a")
	wantErr(t, "File after DeleteFile", err, rag.ErrNotFound)
	_, err = r.DeleteFile(ctx, "acme", "file-a")
	wantErr(t, "DeleteFile twice", err, rag.ErrNotFound)
}

func ids[T any](list []T, id func(T) string) []string {
	out := []string{}
	for _, v := range list {
		out = append(out, id(v))
	}
	return out
}

func fileID(f rag.File) string { return f.ID }

func testFilePages(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	for i := range 5 {
		putFile(t, r, "acme", fmt.Sprintf("f%d", i), i)
	}
	putFile(t, r, "globex", "g0", 10)
	must(t, "PutFile", r.PutFile(ctx, rag.File{ID: "batchfile", TenantID: "acme", Purpose: "batch", CreatedAt: at(11)}, nil))

	cases := []struct {
		purpose string
		p       rag.Page
		want    []string
		more    bool
	}{
		{"assistants", rag.Page{Limit: 10}, []string{"f0", "f1", "f2", "f3", "f4"}, false},
		{"", rag.Page{Limit: 10}, []string{"f0", "f1", "f2", "f3", "f4", "batchfile"}, false},
		{"batch", rag.Page{Limit: 10}, []string{"batchfile"}, false},
		{"assistants", rag.Page{Limit: 2}, []string{"f0", "f1"}, true},
		{"assistants", rag.Page{Limit: 2, After: "f1"}, []string{"f2", "f3"}, true},
		{"assistants", rag.Page{Limit: 2, After: "f3"}, []string{"f4"}, false},
		{"assistants", rag.Page{Limit: 5}, []string{"f0", "f1", "f2", "f3", "f4"}, false},
		{"assistants", rag.Page{Limit: 2, Desc: true}, []string{"f4", "f3"}, true},
		{"assistants", rag.Page{Limit: 2, Desc: true, After: "f3"}, []string{"f2", "f1"}, true},
		{"assistants", rag.Page{Limit: 10, Before: "f2"}, []string{"f0", "f1"}, false},
		{"assistants", rag.Page{Limit: 10, Desc: true, Before: "f2"}, []string{"f4", "f3"}, false},
		{"assistants", rag.Page{Limit: 10, After: "f0", Before: "f3"}, []string{"f1", "f2"}, false},
	}
	for _, c := range cases {
		got, more, err := r.Files(ctx, "acme", c.purpose, c.p)
		if err != nil || !slices.Equal(ids(got, fileID), c.want) || more != c.more {
			t.Errorf("Files(%q, %+v) = %v, %v, %v; want %v, %v", c.purpose, c.p, ids(got, fileID), more, err, c.want, c.more)
		}
	}
	got, _, err := r.Files(ctx, "globex", "", rag.Page{Limit: 10})
	if err != nil || !slices.Equal(ids(got, fileID), []string{"g0"}) {
		t.Errorf("Files(globex) = %v, %v; want [g0]", ids(got, fileID), err)
	}
	got, _, err = r.Files(ctx, "nobody", "", rag.Page{Limit: 10})
	if err != nil || len(got) != 0 {
		t.Errorf("Files(nobody) = %v, %v; want none", ids(got, fileID), err)
	}
}

func storeID(s rag.Store) string { return s.ID }

func testStores(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	s := putStore(t, r, "acme", "vs-a", 0)
	wantErr(t, "PutStore twice", r.PutStore(ctx, s), rag.ErrConflict)
	noMeta := rag.Store{ID: "vs-b", TenantID: "acme", Name: "", EmbedModel: "embed", CreatedAt: at(1)}
	must(t, "PutStore without metadata", r.PutStore(ctx, noMeta))

	got, err := r.Store(ctx, "acme", "vs-a")
	must(t, "Store", err)
	if got.ID != s.ID || got.TenantID != "acme" || got.Name != s.Name || got.EmbedModel != "embed" ||
		!maps.Equal(got.Metadata, s.Metadata) || !got.CreatedAt.Equal(s.CreatedAt) || !got.LastActiveAt.Equal(s.CreatedAt) ||
		got.Counts != (rag.FileCounts{}) || got.UsageBytes != 0 {
		t.Errorf("Store = %+v; want %+v", got, s)
	}
	if got, err := r.Store(ctx, "acme", "vs-b"); err != nil || len(got.Metadata) != 0 {
		t.Errorf("Store without metadata = %+v, %v", got, err)
	}
	_, err = r.Store(ctx, "globex", "vs-a")
	wantErr(t, "Store of another tenant", err, rag.ErrNotFound)

	name := "renamed"
	_, err = r.UpdateStore(ctx, "globex", "vs-a", &name, nil)
	wantErr(t, "UpdateStore of another tenant", err, rag.ErrNotFound)
	_, err = r.UpdateStore(ctx, "acme", "nope", &name, nil)
	wantErr(t, "UpdateStore missing", err, rag.ErrNotFound)
	up, err := r.UpdateStore(ctx, "acme", "vs-a", &name, nil)
	if err != nil || up.Name != "renamed" || !maps.Equal(up.Metadata, s.Metadata) || up.LastActiveAt.Before(s.CreatedAt) {
		t.Errorf("UpdateStore(name) = %+v, %v", up, err)
	}
	meta := map[string]string{"k": "v", "note": "équipe ☃"}
	up, err = r.UpdateStore(ctx, "acme", "vs-a", nil, meta)
	if err != nil || up.Name != "renamed" || !maps.Equal(up.Metadata, meta) {
		t.Errorf("UpdateStore(metadata) = %+v, %v", up, err)
	}
	if got, _ := r.Store(ctx, "acme", "vs-a"); got.Name != "renamed" || !maps.Equal(got.Metadata, meta) {
		t.Errorf("Store after UpdateStore = %+v", got)
	}

	putStore(t, r, "globex", "vs-g", 2)
	all, err := r.AllStores(ctx)
	if err != nil || !slices.Equal(ids(all, storeID), []string{"vs-a", "vs-b", "vs-g"}) {
		t.Errorf("AllStores = %v, %v", ids(all, storeID), err)
	}

	wantErr(t, "DeleteStore of another tenant", r.DeleteStore(ctx, "globex", "vs-a"), rag.ErrNotFound)
	must(t, "DeleteStore", r.DeleteStore(ctx, "acme", "vs-a"))
	_, err = r.Store(ctx, "acme", "vs-a")
	wantErr(t, "Store after DeleteStore", err, rag.ErrNotFound)
	wantErr(t, "DeleteStore twice", r.DeleteStore(ctx, "acme", "vs-a"), rag.ErrNotFound)
}

func testStorePages(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	for i := range 4 {
		putStore(t, r, "acme", fmt.Sprintf("s%d", i), i)
	}
	putStore(t, r, "globex", "g0", 9)
	cases := []struct {
		p    rag.Page
		want []string
		more bool
	}{
		{rag.Page{Limit: 10}, []string{"s0", "s1", "s2", "s3"}, false},
		{rag.Page{Limit: 3}, []string{"s0", "s1", "s2"}, true},
		{rag.Page{Limit: 3, After: "s2"}, []string{"s3"}, false},
		{rag.Page{Limit: 2, Desc: true}, []string{"s3", "s2"}, true},
		{rag.Page{Limit: 2, Desc: true, After: "s2"}, []string{"s1", "s0"}, false},
		{rag.Page{Limit: 10, Before: "s1"}, []string{"s0"}, false},
		{rag.Page{Limit: 10, Desc: true, Before: "s1"}, []string{"s3", "s2"}, false},
	}
	for _, c := range cases {
		got, more, err := r.Stores(ctx, "acme", c.p)
		if err != nil || !slices.Equal(ids(got, storeID), c.want) || more != c.more {
			t.Errorf("Stores(%+v) = %v, %v, %v; want %v, %v", c.p, ids(got, storeID), more, err, c.want, c.more)
		}
	}
}

func testAttach(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	putStore(t, r, "acme", "vs", 0)
	putFile(t, r, "acme", "f", 1)
	putFile(t, r, "globex", "g", 2)
	putStore(t, r, "globex", "vs-g", 3)

	attrs := map[string]any{"author": "ann", "year": float64(2024), "draft": false, "note": "équipe"}
	sf := rag.StoreFile{StoreID: "vs", FileID: "f", TenantID: "acme", Chunking: staticChunking(200, 20),
		Attributes: attrs, CreatedAt: at(4)}
	wantErr(t, "AttachFile of another tenant's file",
		r.AttachFile(ctx, rag.StoreFile{StoreID: "vs", FileID: "g", TenantID: "acme", CreatedAt: at(4)}), rag.ErrNotFound)
	wantErr(t, "AttachFile to another tenant's store",
		r.AttachFile(ctx, rag.StoreFile{StoreID: "vs-g", FileID: "f", TenantID: "acme", CreatedAt: at(4)}), rag.ErrNotFound)
	wantErr(t, "AttachFile to a missing store",
		r.AttachFile(ctx, rag.StoreFile{StoreID: "nope", FileID: "f", TenantID: "acme", CreatedAt: at(4)}), rag.ErrNotFound)
	must(t, "AttachFile", r.AttachFile(ctx, sf))
	wantErr(t, "AttachFile in progress", r.AttachFile(ctx, sf), rag.ErrConflict)

	got, err := r.StoreFile(ctx, "acme", "vs", "f")
	must(t, "StoreFile", err)
	if got.StoreID != "vs" || got.FileID != "f" || got.TenantID != "acme" || got.Filename != "f.txt" || got.BatchID != "" ||
		got.Status != rag.InProgress || got.LastError != nil || !reflect.DeepEqual(got.Chunking, sf.Chunking) ||
		!maps.Equal(got.Attributes, attrs) || got.UsageBytes != 0 || !got.CreatedAt.Equal(sf.CreatedAt) {
		t.Errorf("StoreFile = %+v; want %+v", got, sf)
	}
	_, err = r.StoreFile(ctx, "globex", "vs", "f")
	wantErr(t, "StoreFile of another tenant", err, rag.ErrNotFound)
	_, err = r.StoreFile(ctx, "acme", "vs", "g")
	wantErr(t, "StoreFile not attached", err, rag.ErrNotFound)
	if st, _ := r.Store(ctx, "acme", "vs"); st.Counts != (rag.FileCounts{InProgress: 1}) {
		t.Errorf("Store counts = %+v; want one in progress", st.Counts)
	}

	// A failed file starts again on a new attach, without its error.
	why := &rag.FileError{Code: "invalid_file", Message: "cannot parse"}
	if ok, err := r.SetStatus(ctx, "vs", "f", rag.Failed, why); !ok || err != nil {
		t.Fatalf("SetStatus(failed) = %v, %v; want true", ok, err)
	}
	if ok, err := r.SetStatus(ctx, "vs", "f", rag.Completed, nil); ok || err != nil {
		t.Errorf("SetStatus on a failed file = %v, %v; want false", ok, err)
	}
	got, _ = r.StoreFile(ctx, "acme", "vs", "f")
	if got.Status != rag.Failed || got.LastError == nil || *got.LastError != *why {
		t.Errorf("failed StoreFile = %+v; want failed with %+v", got, why)
	}
	if st, _ := r.Store(ctx, "acme", "vs"); st.Counts != (rag.FileCounts{Failed: 1}) {
		t.Errorf("Store counts = %+v; want one failed", st.Counts)
	}
	sf.Attributes = map[string]any{"author": "bob"}
	must(t, "AttachFile after failure", r.AttachFile(ctx, sf))
	got, _ = r.StoreFile(ctx, "acme", "vs", "f")
	if got.Status != rag.InProgress || got.LastError != nil || !maps.Equal(got.Attributes, sf.Attributes) {
		t.Errorf("re-attached StoreFile = %+v; want in progress, no error, new attributes", got)
	}

	// A cancelled file starts again too; a completed one is a conflict.
	if ok, err := r.SetStatus(ctx, "vs", "f", rag.Cancelled, nil); !ok || err != nil {
		t.Fatalf("SetStatus(cancelled) = %v, %v", ok, err)
	}
	must(t, "AttachFile after cancel", r.AttachFile(ctx, sf))
	putChunks(t, r, mkChunk("vs", "f", 0, "hello"), mkChunk("vs", "f", 1, "wörld"))
	if ok, err := r.SetStatus(ctx, "vs", "f", rag.Completed, nil); !ok || err != nil {
		t.Fatalf("SetStatus(completed) = %v, %v", ok, err)
	}
	wantErr(t, "AttachFile completed", r.AttachFile(ctx, sf), rag.ErrConflict)
	got, _ = r.StoreFile(ctx, "acme", "vs", "f")
	// UsageBytes is the size of the stored chunks' text in bytes.
	if want := int64(len("hello") + len("wörld")); got.Status != rag.Completed || got.UsageBytes != want {
		t.Errorf("completed StoreFile = %+v; want completed with %d usage bytes", got, want)
	}
	if st, _ := r.Store(ctx, "acme", "vs"); st.Counts != (rag.FileCounts{Completed: 1}) || st.UsageBytes != got.UsageBytes {
		t.Errorf("Store = counts %+v, usage %d; want one completed, %d bytes", st.Counts, st.UsageBytes, got.UsageBytes)
	}
	if ok, err := r.SetStatus(ctx, "vs", "nope", rag.Completed, nil); ok || err != nil {
		t.Errorf("SetStatus of a file not attached = %v, %v; want false", ok, err)
	}
}

func sfID(sf rag.StoreFile) string { return sf.FileID }

func testStoreFiles(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	putStore(t, r, "acme", "vs", 0)
	putStore(t, r, "acme", "vs2", 1)
	for i := range 4 {
		putFile(t, r, "acme", fmt.Sprintf("f%d", i), 2+i)
	}
	// Attached in the order f2, f0, f3, f1: lists follow attachment.
	for i, f := range []string{"f2", "f0", "f3", "f1"} {
		attach(t, r, "acme", "vs", f, 10+i)
	}
	attach(t, r, "acme", "vs2", "f0", 20)
	if _, err := r.SetStatus(ctx, "vs", "f3", rag.Completed, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		status rag.Status
		p      rag.Page
		want   []string
		more   bool
	}{
		{"", rag.Page{Limit: 10}, []string{"f2", "f0", "f3", "f1"}, false},
		{"", rag.Page{Limit: 2}, []string{"f2", "f0"}, true},
		{"", rag.Page{Limit: 2, After: "f0"}, []string{"f3", "f1"}, false},
		{"", rag.Page{Limit: 2, Desc: true}, []string{"f1", "f3"}, true},
		{"", rag.Page{Limit: 10, Desc: true, After: "f3"}, []string{"f0", "f2"}, false},
		{"", rag.Page{Limit: 10, Before: "f3"}, []string{"f2", "f0"}, false},
		{rag.InProgress, rag.Page{Limit: 10}, []string{"f2", "f0", "f1"}, false},
		{rag.Completed, rag.Page{Limit: 10}, []string{"f3"}, false},
		{rag.Failed, rag.Page{Limit: 10}, []string{}, false},
	}
	for _, c := range cases {
		got, more, err := r.StoreFiles(ctx, "acme", "vs", "", c.status, c.p)
		if err != nil || !slices.Equal(ids(got, sfID), c.want) || more != c.more {
			t.Errorf("StoreFiles(%q, %+v) = %v, %v, %v; want %v, %v", c.status, c.p, ids(got, sfID), more, err, c.want, c.more)
		}
	}
	got, _, err := r.StoreFiles(ctx, "acme", "vs2", "", "", rag.Page{Limit: 10})
	if err != nil || !slices.Equal(ids(got, sfID), []string{"f0"}) || got[0].Filename != "f0.txt" {
		t.Errorf("StoreFiles(vs2) = %+v, %v", got, err)
	}
	_, _, err = r.StoreFiles(ctx, "globex", "vs", "", "", rag.Page{Limit: 10})
	wantErr(t, "StoreFiles of another tenant", err, rag.ErrNotFound)
	_, _, err = r.StoreFiles(ctx, "acme", "nope", "", "", rag.Page{Limit: 10})
	wantErr(t, "StoreFiles of a missing store", err, rag.ErrNotFound)
}

func testPending(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	putStore(t, r, "acme", "vs", 0)
	putStore(t, r, "globex", "vg", 1)
	putFile(t, r, "acme", "a1", 2)
	putFile(t, r, "acme", "a2", 3)
	putFile(t, r, "globex", "g1", 4)
	attach(t, r, "acme", "vs", "a2", 12)
	attach(t, r, "globex", "vg", "g1", 11)
	attach(t, r, "acme", "vs", "a1", 10)
	got, err := r.Pending(ctx)
	if err != nil || !slices.Equal(ids(got, sfID), []string{"a1", "g1", "a2"}) {
		t.Fatalf("Pending = %v, %v; want [a1 g1 a2] (oldest first, every tenant)", ids(got, sfID), err)
	}
	if got[1].TenantID != "globex" || got[1].StoreID != "vg" || !reflect.DeepEqual(got[1].Chunking, staticChunking(100, 10)) {
		t.Errorf("Pending[1] = %+v", got[1])
	}
	if _, err := r.SetStatus(ctx, "vs", "a1", rag.Completed, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetStatus(ctx, "vg", "g1", rag.Failed, &rag.FileError{Code: "server_error", Message: "x"}); err != nil {
		t.Fatal(err)
	}
	got, err = r.Pending(ctx)
	if err != nil || !slices.Equal(ids(got, sfID), []string{"a2"}) {
		t.Errorf("Pending after completion = %v, %v; want [a2]", ids(got, sfID), err)
	}
}

func testBatches(t *testing.T, r rag.Repo) {
	ctx := t.Context()
	putStore(t, r, "acme", "vs", 0)
	putStore(t, r, "globex", "vg", 0)
	for i := range 3 {
		putFile(t, r, "acme", fmt.Sprintf("f%d", i), 1+i)
	}
	putFile(t, r, "globex", "g", 5)
	sfs := func(files ...string) []rag.StoreFile {
		var out []rag.StoreFile
		for i, f := range files {
			out = append(out, rag.StoreFile{StoreID: "vs", FileID: f, TenantID: "acme", Chunking: staticChunking(50, 0), CreatedAt: at(10 + i)})
		}
		return out
	}
	b := rag.Batch{ID: "batch-1", StoreID: "vs", TenantID: "acme", CreatedAt: at(10)}
	// A batch with a file the tenant cannot see is refused whole.
	err := r.PutBatch(ctx, rag.Batch{ID: "batch-bad", StoreID: "vs", TenantID: "acme", CreatedAt: at(9)}, sfs("f0", "g"))
	wantErr(t, "PutBatch with another tenant's file", err, rag.ErrNotFound)
	_, err = r.Batch(ctx, "acme", "vs", "batch-bad")
	wantErr(t, "Batch refused", err, rag.ErrNotFound)
	if _, err := r.StoreFile(ctx, "acme", "vs", "f0"); !errors.Is(err, rag.ErrNotFound) {
		t.Fatalf("a refused batch attached f0: %v", err)
	}
	wantErr(t, "PutBatch in another tenant's store",
		r.PutBatch(ctx, rag.Batch{ID: "batch-x", StoreID: "vg", TenantID: "acme", CreatedAt: at(9)}, nil), rag.ErrNotFound)

	must(t, "PutBatch", r.PutBatch(ctx, b, sfs("f0", "f1", "f2")))
	got, err := r.Batch(ctx, "acme", "vs", "batch-1")
	if err != nil || got.ID != "batch-1" || got.StoreID != "vs" || got.TenantID != "acme" || got.Status != rag.InProgress ||
		got.Counts != (rag.FileCounts{InProgress: 3}) || !got.CreatedAt.Equal(b.CreatedAt) {
		t.Fatalf("Batch = %+v, %v", got, err)
	}
	_, err = r.Batch(ctx, "globex", "vs", "batch-1")
	wantErr(t, "Batch of another tenant", err, rag.ErrNotFound)
	_, err = r.Batch(ctx, "acme", "other", "batch-1")
	wantErr(t, "Batch of another store", err, rag.ErrNotFound)
	_, err = r.CancelBatch(ctx, "globex", "vs", "batch-1")
	wantErr(t, "CancelBatch of another tenant", err, rag.ErrNotFound)

	list, _, err := r.StoreFiles(ctx, "acme", "vs", "batch-1", "", rag.Page{Limit: 10})
	if err != nil || !slices.Equal(ids(list, sfID), []string{"f0", "f1", "f2"}) || list[0].BatchID != "batch-1" {
		t.Errorf("StoreFiles(batch-1) = %+v, %v", list, err)
	}
	wantErr(t, "PutBatch with the same id", r.PutBatch(ctx, b, nil), rag.ErrConflict)

	if _, err := r.SetStatus(ctx, "vs", "f0", rag.Completed, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetStatus(ctx, "vs", "f1", rag.Failed, &rag.FileError{Code: "invalid_file", Message: "x"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Batch(ctx, "acme", "vs", "batch-1"); got.Status != rag.InProgress ||
		got.Counts != (rag.FileCounts{InProgress: 1, Completed: 1, Failed: 1}) {
		t.Errorf("Batch with one in progress = %+v", got)
	}
	got, err = r.CancelBatch(ctx, "acme", "vs", "batch-1")
	if err != nil || got.Status != rag.Cancelled || got.Counts != (rag.FileCounts{Completed: 1, Failed: 1, Cancelled: 1}) {
		t.Errorf("CancelBatch = %+v, %v; want cancelled, the completed and failed files kept", got, err)
	}
	if sf, _ := r.StoreFile(ctx, "acme", "vs", "f2"); sf.Status != rag.Cancelled {
		t.Errorf("f2 after CancelBatch = %s", sf.Status)
	}
	if p, _ := r.Pending(ctx); len(p) != 0 {
		t.Errorf("Pending after CancelBatch = %v", ids(p, sfID))
	}

	// A batch whose files all end without a cancel is completed (failed
	// files included).
	putFile(t, r, "acme", "f3", 20)
	putFile(t, r, "acme", "f4", 21)
	must(t, "PutBatch 2", r.PutBatch(ctx, rag.Batch{ID: "batch-2", StoreID: "vs", TenantID: "acme", CreatedAt: at(30)}, sfs("f3", "f4")))
	_, _ = r.SetStatus(ctx, "vs", "f3", rag.Completed, nil)
	_, _ = r.SetStatus(ctx, "vs", "f4", rag.Failed, &rag.FileError{Code: "server_error", Message: "x"})
	if got, err := r.Batch(ctx, "acme", "vs", "batch-2"); err != nil || got.Status != rag.Completed ||
		got.Counts != (rag.FileCounts{Completed: 1, Failed: 1}) {
		t.Errorf("Batch done = %+v, %v; want completed", got, err)
	}
	// An empty batch is completed.
	must(t, "PutBatch empty", r.PutBatch(ctx, rag.Batch{ID: "batch-3", StoreID: "vs", TenantID: "acme", CreatedAt: at(40)}, nil))
	if got, err := r.Batch(ctx, "acme", "vs", "batch-3"); err != nil || got.Status != rag.Completed || got.Counts.Total() != 0 {
		t.Errorf("empty Batch = %+v, %v", got, err)
	}
}

// chunkStore makes a store "vs" of acme with in-progress files f and g.
