package llm

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
)

// AppendEmbedding appends item i of an OpenAI embeddings list to b: v as
// a JSON float array (each value in the shortest form that reads back as
// the same float32), or, with b64, as the base64 of its little-endian
// float32 bytes, as OpenAI sends encoding_format "base64". It allocates
// nothing beyond growing b. Both the API and the simulator write
// embeddings with it, so the two cannot drift apart.
func AppendEmbedding(b []byte, i int, v []float32, b64 bool) []byte {
	b = append(b, `{"object":"embedding","index":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"embedding":`...)
	if b64 {
		b = append(b, '"')
		// Three float32s are 12 bytes, a whole number of base64 quanta, so
		// encoding three at a time needs no padding until the last group.
		var group [12]byte
		for len(v) > 0 {
			n := min(len(v), 3)
			for j := range n {
				binary.LittleEndian.PutUint32(group[4*j:], math.Float32bits(v[j]))
			}
			b = base64.StdEncoding.AppendEncode(b, group[:4*n])
			v = v[n:]
		}
		b = append(b, '"')
	} else {
		b = append(b, '[')
		for j, x := range v {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}
