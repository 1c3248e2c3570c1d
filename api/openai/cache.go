package openai

import (
	"net/http"
	"strings"
)

// cacheControl reads the client's Cache-Control directives for Bulwark's
// response cache: no-cache (do not answer from the cache; the fresh answer
// is cached) and no-store (do not use the cache at all). Other directives
// are ignored.
func cacheControl(h http.Header) (noCache, noStore bool) {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-cache":
				noCache = true
			case "no-store":
				noStore = true
			}
		}
	}
	return noCache, noStore
}
