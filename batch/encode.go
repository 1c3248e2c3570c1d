package batch

import "encoding/json"

// Encode is how a Store keeps a batch: its JSON, without its counts
// (which the store counts).
func Encode(b Batch) ([]byte, error) {
	b.Counts = Counts{}
	return json.Marshal(b)
}

// Decode reads a batch a Store kept with Encode.
func Decode(data []byte) (Batch, error) {
	var b Batch
	err := json.Unmarshal(data, &b)
	return b, err
}

// EncodeResult is how a Store keeps a line's result.
func EncodeResult(r Result) ([]byte, error) { return json.Marshal(r) }

// DecodeResult reads a result a Store kept with EncodeResult.
func DecodeResult(data []byte) (Result, error) {
	var r Result
	err := json.Unmarshal(data, &r)
	return r, err
}
