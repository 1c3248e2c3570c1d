package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"unicode/utf8"
)

// ReadBody reads the request body. A body over the server's limit (set by
// the body-limit middleware) is a 413, and a body that is not valid UTF-8 is
// a 400: both in OpenAI's error format.
func ReadBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, TypeInvalidRequest, "request_too_large",
				"the request body is larger than the limit of %d bytes", mbe.Limit)
		}
		if rerr := ReadError(err); rerr != nil {
			return nil, rerr
		}
		return nil, BadRequest("", "could not read the request body: %v", err)
	}
	if !utf8.Valid(b) {
		return nil, BadRequest("", "the request body is not valid UTF-8")
	}
	return b, nil
}

// DecodeJSON reads the body and decodes it strictly into v: unknown fields,
// trailing data, wrong types and malformed JSON are 400s that say where.
func DecodeJSON(r *http.Request, v any) error {
	b, err := ReadBody(r)
	if err != nil {
		return err
	}
	return Unmarshal(b, v, true)
}

// Unmarshal decodes JSON into v and turns a decoding failure into a 400 that
// names the field or offset. With strict set, unknown fields are errors.
func Unmarshal(b []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return BadRequest("", "the request body is empty; send a JSON object")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if strict {
		d.DisallowUnknownFields()
	}
	if err := d.Decode(v); err != nil {
		return decodeError(err)
	}
	if d.More() {
		return BadRequest("", "the request body has data after the JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return BadRequest("", "the request body is not valid JSON (at byte %d): %v", se.Offset, se.Error())
	case errors.As(err, &te):
		if te.Field == "" {
			return BadRequest("", "the request body must be a JSON object, not %s", te.Value)
		}
		return BadRequest(te.Field, "%s must be %s, not %s", te.Field, jsonTypeName(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return BadRequest("", "the request body is truncated JSON")
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	// Unknown fields and custom unmarshalers end here.
	return BadRequest("", "invalid request body: %v", err)
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return "of another type"
}

// ReadError is the client's error for a failure of the connection while
// its body was read (a timeout is a 408, the connection lost a 400), nil
// for any other error. The network error itself is not repeated: it
// names the server's and the client's socket addresses.
func ReadError(err error) error {
	var ne net.Error
	if !errors.As(err, &ne) {
		return nil
	}
	if ne.Timeout() {
		return Errorf(http.StatusRequestTimeout, TypeInvalidRequest, "request_timeout",
			"the request body did not arrive in time; send it without pauses")
	}
	return BadRequest("", "the connection failed while the request body was read")
}
