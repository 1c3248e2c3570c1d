package openai

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/bulwark-ai/bulwark/llm"
)

// With H2C, calls to an http:// upstream go over cleartext HTTP/2 and
// share one connection; without it, they speak HTTP/1.1.
func TestH2CToACleartextUpstream(t *testing.T) {
	resp := readTestdata(t, "chat_response.json")
	for _, h2c := range []bool{false, true} {
		var mu sync.Mutex
		protos := map[string]int{}
		conns := map[string]bool{}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			protos[r.Proto]++
			conns[r.RemoteAddr] = true
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(resp)
		}))
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
		c, err := New(Options{Name: "p", BaseURL: srv.URL + "/v1", H2C: h2c})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := c.Chat(t.Context(), &llm.ChatRequest{Model: "m", Body: []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		c.http.CloseIdleConnections()
		srv.Close()
		want := "HTTP/1.1"
		if h2c {
			want = "HTTP/2.0"
		}
		if protos[want] != 8 {
			t.Errorf("h2c=%v: requests by protocol %v; want 8 over %s", h2c, protos, want)
		}
		if h2c && len(conns) != 1 {
			t.Errorf("h2c: %d connections for 8 concurrent calls; want them to share one", len(conns))
		}
	}
}
