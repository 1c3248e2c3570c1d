// Package s3test gives tests an S3-compatible object storage with an
// empty bucket of their own.
//
// With BULWARK_TEST_S3_URL set (http://127.0.0.1:8333, credentials from
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or "test"/"test"), the
// tests use that server: a real one, such as SeaweedFS's `weed mini`.
// Otherwise they use gofakes3, an in-memory S3 served from the test
// process. It imports nothing of Bulwark but package backup's types.
package s3test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/bulwark-ai/bulwark/backup"
)

// Server is object storage with a bucket for one test.
type Server struct {
	// Config reaches the server, path-style, with its credentials.
	Config backup.S3Config
	// Bucket is new and empty, and removed with its objects when the
	// test ends.
	Bucket string
	// Client is a plain SDK client of the server, for checks that
	// package backup does not offer.
	Client *s3.Client
	// Real says whether the server is BULWARK_TEST_S3_URL's rather than
	// the in-process fake.
	Real bool
}

// Start returns a server and an empty bucket for t.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{Config: backup.S3Config{Region: "us-east-1", PathStyle: true,
		AccessKeyID: envOr("AWS_ACCESS_KEY_ID", "test"), SecretAccessKey: envOr("AWS_SECRET_ACCESS_KEY", "test")}}
	if u := os.Getenv("BULWARK_TEST_S3_URL"); u != "" {
		s.Config.Endpoint, s.Real = strings.TrimSuffix(u, "/"), true
	} else {
		srv := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
		t.Cleanup(srv.Close)
		s.Config.Endpoint = srv.URL
	}
	s.Client = NewClient(t, s.Config)
	s.Bucket = "bulwark-test-" + strings.ToLower(rand.Text()[:12])
	ctx := context.Background()
	if _, err := s.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		t.Fatalf("s3test: create bucket on %s: %v", s.Config.Endpoint, err)
	}
	t.Cleanup(func() { s.removeBucket(t) })
	return s
}

// URL returns s3://<bucket>/<key>.
func (s *Server) URL(key string) string { return fmt.Sprintf("s3://%s/%s", s.Bucket, key) }

// Env returns the environment variables that point `bulwark` at the
// server (backup.S3ConfigFromEnv), as KEY=value.
func (s *Server) Env() []string {
	return []string{
		"BULWARK_S3_ENDPOINT=" + s.Config.Endpoint,
		"BULWARK_S3_PATH_STYLE=true",
		"AWS_REGION=" + s.Config.Region,
		"AWS_ACCESS_KEY_ID=" + s.Config.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + s.Config.SecretAccessKey,
	}
}

// Keys lists the keys of the objects under prefix.
func (s *Server) Keys(t testing.TB, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.Client, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("s3test: list %s: %v", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// NewClient returns an SDK client for c.
func NewClient(t testing.TB, c backup.S3Config) *s3.Client {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(c.Region),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")))
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(c.Endpoint)
		o.UsePathStyle = c.PathStyle
	})
}

func (s *Server) removeBucket(t testing.TB) {
	ctx := context.Background()
	for _, k := range s.Keys(t, "") {
		if _, err := s.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(k)}); err != nil {
			t.Errorf("s3test: delete %s: %v", k, err)
		}
	}
	if _, err := s.Client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		t.Errorf("s3test: delete bucket %s: %v", s.Bucket, err)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
