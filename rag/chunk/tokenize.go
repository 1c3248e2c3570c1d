package chunk

import (
	"sync"
	"unicode/utf8"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// Encoding is the vocabulary chunks are measured in: that of
// text-embedding-3 and text-embedding-ada-002.
const Encoding = "cl100k_base"

// encoder is tiktoken-go's cl100k_base encoder over the vocabulary
// compiled into the binary, built once (a tenth of a second).
var encoder = sync.OnceValues(func() (*tiktoken.Tiktoken, error) {
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
	return tiktoken.GetEncoding(Encoding)
})

// tokenLen holds the length in bytes of each token of the vocabulary, so
// that placing tokens needs no Decode (and its string) per token.
var tokenLen = sync.OnceValues(func() ([]int32, error) {
	ranks, err := tiktoken_loader.NewOfflineLoader().LoadTiktokenBpe(Encoding + ".tiktoken")
	if err != nil {
		return nil, err
	}
	n := 0
	for _, id := range ranks {
		n = max(n, id+1)
	}
	lens := make([]int32, n)
	for tok, id := range ranks {
		lens[id] = int32(len(tok))
	}
	return lens, nil
})

// segment bounds the text given to the encoder at once. Its merge is
// quadratic in the length of one piece, so text is encoded in segments
// cut where cl100k_base's pre-tokenizer always cuts (before a space that
// follows a non-space and precedes an ASCII letter), which leaves the
// tokens as they would be for the whole text. A run of hardSegment bytes
// with no such cut (a base64 blob) is cut anyway, at a rune boundary,
// which can change a token or two there.
const (
	segment     = 1 << 10
	hardSegment = 4 << 10
)

// offsets returns the byte offset of each token of text in cl100k_base,
// followed by len(text).
func offsets(enc *tiktoken.Tiktoken, text string) []int {
	offs := make([]int, 0, len(text)/4+1)
	start, cut := 0, 0
	flush := func(end int) {
		offs = encodeSegment(enc, text, start, end, offs)
		start = end
	}
	for i := 1; i < len(text); i++ {
		if text[i] == ' ' && !space(text[i-1]) && i+1 < len(text) && letter(text[i+1]) {
			cut = i
		}
		if i-start >= segment && cut > start {
			flush(cut)
		} else if i-start >= hardSegment && utf8.RuneStart(text[i]) {
			flush(i)
		}
	}
	flush(len(text))
	return append(offs, len(text))
}

func encodeSegment(enc *tiktoken.Tiktoken, text string, start, end int, offs []int) []int {
	if start >= end {
		return offs
	}
	ids := enc.EncodeOrdinary(text[start:end])
	lens, _ := tokenLen()
	at := start
	n := len(offs)
	for _, id := range ids {
		offs = append(offs, at)
		if id >= 0 && id < len(lens) && lens[id] > 0 {
			at += int(lens[id])
		} else {
			at += len(enc.Decode([]int{id}))
		}
	}
	if at != end { // cannot happen with a sound vocabulary: fall back to runes
		offs = offs[:n]
		for i := start; i < end; {
			offs = append(offs, i)
			_, size := utf8.DecodeRuneInString(text[i:])
			i += size
		}
	}
	return offs
}

func space(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

func letter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }
