package redis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwark-ai/bulwark/cache"
)

// SemanticIndexOptions configure a SemanticIndex. The zero value is
// valid.
type SemanticIndexOptions struct {
	// Prefix starts every key; "" means "bulwark:cache:sem:".
	Prefix string
	// Timeout bounds each call; 0 means 100ms.
	Timeout time.Duration
	// MaxPerBucket is how many vectors a bucket keeps, the newest; 0
	// means 512.
	MaxPerBucket int
}

// SemanticIndex is the scaled shape's semantic index (the gateway's
// SemanticIndex), shared by every replica: one Redis list per bucket,
// <prefix><bucket>, newest first, of (expiry, entry key, vector) records.
// Add pushes a record, trims the list to MaxPerBucket and sets the list
// to expire with its newest record; Search reads the whole list (at most
// MaxPerBucket records, 412 bytes each for a 99-dimension vector) and
// compares by brute force in the replica, skipping expired records. So a
// lookup is one round trip whatever the bucket holds, the memory of a
// bucket is bounded, and a bucket nobody writes to disappears; the total
// is bounded by the answers' TTLs and Redis's own maxmemory.
//
// This is simpler than an approximate index (RediSearch's vector fields
// need the Redis Stack modules, which plain Redis 7 lacks) and enough
// while a bucket — one tenant, alias and context — holds hundreds of
// questions, not millions. It is safe for concurrent use.
type SemanticIndex struct {
	c         goredis.UniversalClient
	prefix    string
	timeout   time.Duration
	perBucket int
	now       func() time.Time
}

// NewSemanticIndex returns a SemanticIndex over c (made with NewClient).
func NewSemanticIndex(c goredis.UniversalClient, o SemanticIndexOptions) *SemanticIndex {
	s := &SemanticIndex{c: c, prefix: o.Prefix, timeout: o.Timeout, perBucket: o.MaxPerBucket, now: time.Now}
	if s.prefix == "" {
		s.prefix = "bulwark:cache:sem:"
	}
	if s.timeout <= 0 {
		s.timeout = 100 * time.Millisecond
	}
	if s.perBucket <= 0 {
		s.perBucket = 512
	}
	return s
}

// Search returns the vector of bucket nearest to vec if its similarity is
// at least threshold.
func (s *SemanticIndex) Search(ctx context.Context, bucket string, vec []float32, threshold float32) (cache.Match, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	recs, err := s.c.LRange(ctx, s.prefix+bucket, 0, int64(s.perBucket)-1).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return cache.Match{}, false, fmt.Errorf("redis semantic search: %w", err)
	}
	now := s.now().UnixMilli()
	m, ok := cache.Nearest(vec, threshold, func(yield func([]float32, string)) {
		for _, r := range recs {
			expires, key, v, ok := decodeRecord([]byte(r))
			if ok && expires > now {
				yield(v, key)
			}
		}
	})
	return m, ok, nil
}

// Add pushes vec pointing at key to bucket for ttl (at least a
// millisecond).
func (s *SemanticIndex) Add(ctx context.Context, bucket string, vec []float32, key string, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	k := s.prefix + bucket
	rec := encodeRecord(s.now().Add(ttl).UnixMilli(), key, vec)
	_, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.LPush(ctx, k, rec)
		p.LTrim(ctx, k, 0, int64(s.perBucket)-1)
		p.PExpire(ctx, k, ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis semantic add: %w", err)
	}
	return nil
}

// A record is the expiry (Unix milliseconds, 8 bytes), the key's length
// (2 bytes), the key and the vector's float32s, all big-endian.
func encodeRecord(expires int64, key string, vec []float32) []byte {
	b := make([]byte, 0, 10+len(key)+4*len(vec))
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	for _, x := range vec {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func decodeRecord(b []byte) (expires int64, key string, vec []float32, ok bool) {
	if len(b) < 10 {
		return 0, "", nil, false
	}
	expires = int64(binary.BigEndian.Uint64(b))
	n := int(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	if len(b) < n || (len(b)-n)%4 != 0 {
		return 0, "", nil, false
	}
	key, b = string(b[:n]), b[n:]
	vec = make([]float32, len(b)/4)
	for i := range vec {
		vec[i] = math.Float32frombits(binary.BigEndian.Uint32(b[4*i:]))
	}
	return expires, key, vec, true
}
