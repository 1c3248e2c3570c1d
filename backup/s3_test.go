package backup_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/bulwark-ai/bulwark/backup"
	"github.com/bulwark-ai/bulwark/backup/s3test"
	"github.com/bulwark-ai/bulwark/sqlite"
	"github.com/bulwark-ai/bulwark/tenant"
)

// s3DataDir makes a data directory: a database with one tenant and a
// usage log segment of random text; with big, about 7 MiB of it, which
// compresses to about 5.6 MiB, so that the archive takes two 5 MiB parts.
func s3DataDir(t *testing.T, big bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTenant(t.Context(), tenant.Tenant{ID: "acme", Name: "Acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 64)
	if big {
		noise = make([]byte, 11<<19)
	}
	_, _ = rand.Read(noise)
	seg := filepath.Join(dir, "usage-spill", "usage-spill-0000000000000001.jsonl")
	if err := os.MkdirAll(filepath.Dir(seg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg, []byte(`{"id":"`+base64.StdEncoding.EncodeToString(noise)+`"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newS3(t *testing.T, srv *s3test.Server) *backup.S3 {
	t.Helper()
	c := srv.Config
	c.PartSize = backup.MinPartSize
	client, err := backup.NewS3(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// noUploadsInProgress fails t if an upload to the bucket was left
// neither completed nor aborted (its parts would be stored, and billed,
// for ever).
func noUploadsInProgress(t *testing.T, srv *s3test.Server) {
	t.Helper()
	out, err := srv.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) > 0 {
		t.Errorf("%d multipart uploads left in progress", len(out.Uploads))
	}
}

func TestS3BackupVerifyRestore(t *testing.T) {
	srv := s3test.Start(t)
	client := newS3(t, srv)
	data := s3DataDir(t, true)
	tmp := t.TempDir()
	url := srv.URL("nightly/one.tar.gz")

	m, err := backup.Create(t.Context(), backup.Options{DataDir: data, Out: url, S3: client, TempDir: tmp, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	head, err := srv.Client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("nightly/one.tar.gz")})
	if err != nil {
		t.Fatal(err)
	}
	if n := aws.ToInt64(head.ContentLength); n <= backup.MinPartSize {
		t.Fatalf("the archive is %d bytes: too small for the test to upload several parts", n)
	}
	noUploadsInProgress(t, srv)
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("staging left behind in TempDir: %v", ents)
	}

	loc, err := backup.ParseS3URL(url)
	if err != nil {
		t.Fatal(err)
	}
	got, err := backup.VerifyS3(t.Context(), client, loc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Files, m.Files) {
		t.Fatalf("verify: files %v, created %v", got.Files, m.Files)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	r, err := backup.Restore(t.Context(), backup.RestoreOptions{Archive: url, S3: client, DataDir: restored})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Manifest.Files, m.Files) {
		t.Fatalf("restored files %v, created %v", r.Manifest.Files, m.Files)
	}
	for _, f := range m.Files {
		want, err := os.ReadFile(filepath.Join(data, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		gotb, err := os.ReadFile(filepath.Join(restored, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		if f.Path != "bulwark.db" && string(gotb) != string(want) {
			t.Errorf("%s differs after the round trip", f.Path)
		}
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(restored, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Tenant(t.Context(), "acme"); err != nil {
		t.Errorf("the restored database lacks the tenant: %v", err)
	}
	ents, err := os.ReadDir(filepath.Dir(restored))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("the download was left beside the data directory: %v", ents)
	}
}

// failPart makes every UploadPart after the first fail.
func failPart(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("failPart",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if p, ok := in.Parameters.(*s3.UploadPartInput); ok && aws.ToInt32(p.PartNumber) > 1 {
				return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("the network went away")
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// An upload that fails midway leaves nothing a reader can see: not a
// partial object under the key, not its parts, and a good archive
// already under the key stays.
func TestS3FailedUploadLeavesTheObjectAsItWas(t *testing.T) {
	srv := s3test.Start(t)
	client := newS3(t, srv)
	data := s3DataDir(t, true)
	url := srv.URL("b.tar.gz")
	first, err := backup.Create(t.Context(), backup.Options{DataDir: data, Out: url, S3: client, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}

	failing := srv.Config
	failing.PartSize = backup.MinPartSize
	failing.APIOptions = append(failing.APIOptions, failPart)
	broken, err := backup.NewS3(t.Context(), failing)
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return first.Created.Add(time.Hour) }
	for _, u := range []string{url, srv.URL("new.tar.gz")} {
		_, err = backup.Create(t.Context(), backup.Options{DataDir: data, Out: u, S3: broken, TempDir: t.TempDir(), Now: later})
		if err == nil || !strings.Contains(err.Error(), "the network went away") {
			t.Fatalf("create with a failing part upload: %v", err)
		}
	}
	noUploadsInProgress(t, srv)
	if keys := srv.Keys(t, ""); !slices.Equal(keys, []string{"b.tar.gz"}) {
		t.Errorf("objects after the failed uploads: %v", keys)
	}
	loc, _ := backup.ParseS3URL(url)
	got, err := backup.VerifyS3(t.Context(), client, loc)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(first.Created) {
		t.Errorf("the archive under the key was made %v, the good one %v", got.Created, first.Created)
	}
}

// A damaged object is refused on read-back, and restore touches nothing.
func TestS3DamagedObjectIsRefused(t *testing.T) {
	srv := s3test.Start(t)
	client := newS3(t, srv)
	dir := t.TempDir()
	local := filepath.Join(dir, "a.tar.gz")
	if _, err := backup.Create(t.Context(), backup.Options{DataDir: s3DataDir(t, false), Out: local}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if _, err := srv.Client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("a.tar.gz"),
		Body: strings.NewReader(string(b))}); err != nil {
		t.Fatal(err)
	}
	loc, _ := backup.ParseS3URL(srv.URL("a.tar.gz"))
	if _, err := backup.VerifyS3(t.Context(), client, loc); !errors.Is(err, backup.ErrCorrupt) {
		t.Fatalf("verify of a damaged object: %v, want ErrCorrupt", err)
	}
	target := filepath.Join(t.TempDir(), "data")
	if _, err := backup.Restore(t.Context(), backup.RestoreOptions{Archive: loc.String(), S3: client, DataDir: target}); !errors.Is(err, backup.ErrCorrupt) {
		t.Fatalf("restore of a damaged object: %v, want ErrCorrupt", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(target)); len(ents) != 0 {
		t.Errorf("restore left %v", ents)
	}
	if _, err := backup.VerifyS3(t.Context(), client, backup.S3Location{Bucket: srv.Bucket, Key: "missing.tar.gz"}); err == nil {
		t.Error("verify of a missing object succeeded")
	}
}

func TestParseS3URL(t *testing.T) {
	for in, want := range map[string]backup.S3Location{
		"s3://b/k.tar.gz":       {Bucket: "b", Key: "k.tar.gz"},
		"s3://b/p/q/k.tar.gz":   {Bucket: "b", Key: "p/q/k.tar.gz"},
		"s3://b/p/":             {Bucket: "b", Key: "p/"},
		"s3://b":                {Bucket: "b"},
		"s3://my-bucket.x/a b/": {Bucket: "my-bucket.x", Key: "a b/"},
	} {
		got, err := backup.ParseS3URL(in)
		if err != nil || got != want {
			t.Errorf("ParseS3URL(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"s3:///k", "s3://u:p@b/k", "s3://b/k?x=1", "/tmp/x", "gs://b/k"} {
		if _, err := backup.ParseS3URL(in); err == nil {
			t.Errorf("ParseS3URL(%q) succeeded", in)
		}
	}
}

func TestS3ConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := backup.S3ConfigFromEnv(env(map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:8333"}))
	if err != nil || c.Endpoint != "http://127.0.0.1:8333" || !c.PathStyle {
		t.Errorf("AWS_ENDPOINT_URL: %+v, %v", c, err)
	}
	c, err = backup.S3ConfigFromEnv(env(map[string]string{"AWS_ENDPOINT_URL": "http://a", "BULWARK_S3_ENDPOINT": "http://b", "BULWARK_S3_PATH_STYLE": "false", "BULWARK_S3_REGION": "eu-west-1"}))
	if err != nil || c.Endpoint != "http://b" || c.PathStyle || c.Region != "eu-west-1" {
		t.Errorf("BULWARK_S3_*: %+v, %v", c, err)
	}
	c, err = backup.S3ConfigFromEnv(env(nil))
	if err != nil || c.Endpoint != "" || c.PathStyle {
		t.Errorf("empty environment (AWS): %+v, %v", c, err)
	}
	if _, err := backup.S3ConfigFromEnv(env(map[string]string{"BULWARK_S3_PATH_STYLE": "yes please"})); err == nil {
		t.Error("a bad BULWARK_S3_PATH_STYLE was accepted")
	}
}
