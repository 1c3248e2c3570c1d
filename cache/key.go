package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// Unshaping are the top-level fields of a chat request body left out of
// its canonical hash: they do not change the answer.
var Unshaping = []string{
	"model", "stream", "stream_options", "user", "safety_identifier",
	"metadata", "store", "service_tier", "prompt_cache_key", "prompt_cache_retention",
}

// Fingerprint is what a chat request body contributes to its key.
type Fingerprint struct {
	// Hash is the SHA-256 of the body's canonical form, less Unshaping.
	Hash [sha256.Size]byte
	// Deterministic: the body sets temperature 0 or a seed.
	Deterministic bool
}

// Chat returns the fingerprint of a chat request body, which must be a
// JSON object.
func Chat(body []byte) (Fingerprint, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return Fingerprint{}, fmt.Errorf("cache key: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return Fingerprint{}, errors.New("cache key: data after the JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Fingerprint{}, errors.New("cache key: the body is not a JSON object")
	}
	var f Fingerprint
	if t, ok := obj["temperature"].(json.Number); ok {
		if x, err := t.Float64(); err == nil && x == 0 {
			f.Deterministic = true
		}
	}
	if s, ok := obj["seed"]; ok && s != nil {
		f.Deterministic = true
	}
	for _, k := range Unshaping {
		delete(obj, k)
	}
	var buf bytes.Buffer
	if err := canonical(&buf, obj); err != nil {
		return Fingerprint{}, err
	}
	f.Hash = sha256.Sum256(buf.Bytes())
	return f, nil
}

// Canonical returns the canonical form of a JSON value (as Chat hashes
// it, Unshaping left in). It is for tests and debugging.
func Canonical(body []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err := canonical(&buf, v)
	return buf.Bytes(), err
}

func canonical(w *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		w.WriteString("null")
	case bool:
		w.WriteString(strconv.FormatBool(v))
	case json.Number:
		w.WriteString(number(v))
	case string:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		w.Write(b)
	case []any:
		w.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := canonical(w, e); err != nil {
				return err
			}
		}
		w.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				w.WriteByte(',')
			}
			if err := canonical(w, k); err != nil {
				return err
			}
			w.WriteByte(':')
			if err := canonical(w, v[k]); err != nil {
				return err
			}
		}
		w.WriteByte('}')
	default:
		return fmt.Errorf("cache key: unexpected %T", v)
	}
	return nil
}

// number writes n in one form: an integer that fits 64 bits as an
// integer, any other number in its shortest round-trip form, a number
// beyond float64 as it was sent.
func number(n json.Number) string {
	if i, err := n.Int64(); err == nil {
		return strconv.FormatInt(i, 10)
	}
	if f, err := n.Float64(); err == nil {
		if f >= -1<<63 && f < 1<<63 && f == math.Trunc(f) {
			return strconv.FormatInt(int64(f), 10)
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return n.String()
}

// Modes of a key: a non-streamed answer, or a streamed one.
const (
	ModeChat   = "chat"
	ModeStream = "stream"
)

// Key returns the key of a request in mode (ModeChat or ModeStream) of
// tenant, routed to alias, whose route is at version and whose body has
// fingerprint f: 64 hex digits.
func Key(mode, tenant, alias, version string, f Fingerprint) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range []string{"bulwark-cache-v1", mode, tenant, alias, version} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	h.Write(f.Hash[:])
	return hex.EncodeToString(h.Sum(nil))
}
