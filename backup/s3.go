package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
)

// s3Scheme starts the URL of an archive in S3-compatible object storage:
// s3://bucket/key.
const s3Scheme = "s3://"

// Part sizes of a multipart upload: S3 takes at most 10,000 parts of at
// least 5 MiB each (the last one may be smaller).
const (
	DefaultPartSize = 16 << 20
	MinPartSize     = 5 << 20
	maxParts        = 10000
)

// IsS3 reports whether s names an object in S3-compatible storage
// (s3://bucket/key) rather than a local path.
func IsS3(s string) bool { return strings.HasPrefix(s, s3Scheme) }

// S3Location is an object, or with a key ending in "/" a prefix, in a
// bucket.
type S3Location struct {
	Bucket string
	Key    string
}

// String returns the location as an s3:// URL.
func (l S3Location) String() string { return s3Scheme + l.Bucket + "/" + l.Key }

// ParseS3URL parses s3://bucket/key. The key may be empty (the bucket's
// root) or end in "/" (a prefix).
func ParseS3URL(s string) (S3Location, error) {
	if !IsS3(s) {
		return S3Location{}, fmt.Errorf("%q is not an s3://bucket/key URL", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return S3Location{}, fmt.Errorf("%q is not an s3://bucket/key URL: %w", s, err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return S3Location{}, fmt.Errorf("%q is not an s3://bucket/key URL", s)
	}
	return S3Location{Bucket: u.Host, Key: strings.TrimPrefix(u.Path, "/")}, nil
}

// S3Config says how to reach the object storage. The zero value is AWS
// itself, with the region and credentials the AWS SDK finds (AWS_REGION,
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, an instance
// role).
type S3Config struct {
	// Endpoint is the URL of an S3-compatible service
	// (http://127.0.0.1:8333); empty means AWS, or AWS_ENDPOINT_URL.
	Endpoint string
	// Region is the bucket's region; empty means the SDK's, else
	// us-east-1 (which S3-compatible services accept).
	Region string
	// PathStyle addresses buckets as endpoint/bucket rather than
	// bucket.endpoint, as most S3-compatible services need.
	PathStyle bool
	// AccessKeyID and SecretAccessKey, when set, are the credentials;
	// empty means the SDK's chain.
	AccessKeyID     string
	SecretAccessKey string
	// PartSize is the size of an upload's parts (default 16 MiB, at
	// least 5 MiB); it grows for archives of more than 10,000 parts.
	PartSize int64
	// APIOptions are added to the SDK client's middleware stack (tests
	// inject faults with them).
	APIOptions []func(*middleware.Stack) error
}

// S3ConfigFromEnv reads the object storage's settings from the
// environment through getenv (os.Getenv): the endpoint from
// BULWARK_S3_ENDPOINT or AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, the
// region from BULWARK_S3_REGION (else the SDK's AWS_REGION), path-style
// addressing from BULWARK_S3_PATH_STYLE (default: on when an endpoint is
// set). Credentials are left to the SDK (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, or a profile or role).
func S3ConfigFromEnv(getenv func(string) string) (S3Config, error) {
	var c S3Config
	for _, k := range []string{"BULWARK_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if c.Endpoint = getenv(k); c.Endpoint != "" {
			break
		}
	}
	c.Region = getenv("BULWARK_S3_REGION")
	c.PathStyle = c.Endpoint != ""
	if s := getenv("BULWARK_S3_PATH_STYLE"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return c, fmt.Errorf("BULWARK_S3_PATH_STYLE: %q is not true or false", s)
		}
		c.PathStyle = b
	}
	return c, nil
}

// S3 is a client of S3-compatible object storage for archives. It is safe
// for concurrent use.
type S3 struct {
	client   *s3.Client
	partSize int64
}

// NewS3 returns a client for the storage c describes. It does not
// connect.
func NewS3(ctx context.Context, c S3Config) (*S3, error) {
	var load []func(*awsconfig.LoadOptions) error
	if c.Region != "" {
		load = append(load, awsconfig.WithRegion(c.Region))
	}
	if c.AccessKeyID != "" || c.SecretAccessKey != "" {
		load = append(load, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3 client: part size %d is below S3's minimum of %d", c.PartSize, MinPartSize)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.PathStyle
		// An archive carries its own checksums; a multipart object has
		// no whole-object checksum for the SDK to check, which it would
		// log on every read.
		o.DisableLogOutputChecksumValidationSkipped = true
		o.APIOptions = append(o.APIOptions, c.APIOptions...)
	})
	return &S3{client: client, partSize: c.PartSize}, nil
}

// upload writes the file at path to loc as a multipart upload: the object
// appears, whole, only when the upload completes, and a failed upload is
// aborted, so that a reader never sees a partial archive and a good
// archive under the same key is never replaced by a bad one. Each part
// carries a CRC32 the service checks.
func (c *S3) upload(ctx context.Context, path string, loc S3Location) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	partSize := max(c.partSize, (size+maxParts-1)/maxParts)

	created, err := c.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(loc.Bucket),
		Key:               aws.String(loc.Key),
		ContentType:       aws.String("application/gzip"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	done := false
	defer func() {
		if !done {
			// A context that ended must not keep the parts stored.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, _ = c.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key), UploadId: created.UploadId})
		}
	}()
	var parts []types.CompletedPart
	for off, n := int64(0), int32(1); off < size || n == 1; off, n = off+partSize, n+1 {
		part, err := c.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(loc.Bucket),
			Key:               aws.String(loc.Key),
			UploadId:          created.UploadId,
			PartNumber:        aws.Int32(n),
			Body:              io.NewSectionReader(f, off, min(partSize, size-off)),
			ContentLength:     aws.Int64(min(partSize, size-off)),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return fmt.Errorf("upload part %d: %w", n, err)
		}
		parts = append(parts, types.CompletedPart{ETag: part.ETag, PartNumber: aws.Int32(n), ChecksumCRC32: part.ChecksumCRC32})
	}
	if _, err := c.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(loc.Bucket),
		Key:             aws.String(loc.Key),
		UploadId:        created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		return fmt.Errorf("complete upload: %w", err)
	}
	done = true
	return nil
}

// open returns the object at loc for reading, and its size.
func (c *S3) open(ctx context.Context, loc S3Location) (io.ReadCloser, int64, error) {
	out, err := c.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key)})
	if err != nil {
		return nil, 0, err
	}
	return out.Body, aws.ToInt64(out.ContentLength), nil
}

// download copies the object at loc to a new file at path.
func (c *S3) download(ctx context.Context, loc S3Location, path string) error {
	body, _, err := c.open(ctx, loc)
	if err != nil {
		return err
	}
	defer body.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, body); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// s3Object is an object listed under a prefix.
type s3Object struct {
	Key  string
	Size int64
}

// list returns the objects whose keys start with prefix, directly under
// it (not in "subdirectories").
func (c *S3) list(ctx context.Context, bucket, prefix string) ([]s3Object, error) {
	var objs []s3Object
	p := s3.NewListObjectsV2Paginator(c.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			objs = append(objs, s3Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)})
		}
	}
	return objs, nil
}

// remove deletes the object at loc.
func (c *S3) remove(ctx context.Context, loc S3Location) error {
	_, err := c.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key)})
	return err
}

// errNoS3 is returned when an s3:// location is given without a client.
var errNoS3 = errors.New("an s3:// location needs an S3 client")
