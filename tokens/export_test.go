package tokens

import (
	"sync"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

// useOfflineLoader points tiktoken-go at the vocabularies compiled into
// the binary, once.
var useOfflineLoader = sync.OnceFunc(func() {
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
})

// references are tiktoken-go's encoders, built once: GetEncoding builds a
// new one (a third of a second) on every call.
var references = map[*encoding]func() (*tiktoken.Tiktoken, error){
	o200k:  sync.OnceValues(func() (*tiktoken.Tiktoken, error) { useOfflineLoader(); return tiktoken.GetEncoding(o200k.name) }),
	cl100k: sync.OnceValues(func() (*tiktoken.Tiktoken, error) { useOfflineLoader(); return tiktoken.GetEncoding(cl100k.name) }),
}

// reference returns tiktoken-go's encoder of e, which Counter must agree
// with token for token.
func (e *encoding) reference() (*tiktoken.Tiktoken, error) { return references[e]() }

// exact reports whether e counts s exactly: no piece of it is longer than
// maxMerge bytes.
func (e *encoding) exact(s string) bool {
	for len(s) > 0 {
		k := e.split(s)
		if k > maxMerge {
			return false
		}
		s = s[k:]
	}
	return true
}
