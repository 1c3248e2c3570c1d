package bedrock

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"testing"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// sdkRequest builds a POST of body to rawURL the way the SDK does
// (smithy-go's Request.Build, which wraps the body in its safe reader).
func sdkRequest(t *testing.T, ctx context.Context, rawURL string, body []byte) *http.Request {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	sr := smithyhttp.NewStackRequest().(*smithyhttp.Request)
	sr.Method = http.MethodPost
	sr.URL = u
	sr.Header.Set("Content-Type", "application/json")
	if sr, err = sr.SetStream(bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	return sr.Build(ctx)
}

// TestReadOnlyBodyAfterClose checks that a request body the SDK has closed
// reads as ended, with no error, however it is copied.
func TestReadOnlyBodyAfterClose(t *testing.T) {
	r := sdkRequest(t, context.Background(), "http://127.0.0.1/", []byte(`{"a":1}`))
	r.Body.Close() // what the SDK does once the response has arrived
	if n, err := io.Copy(io.Discard, readOnlyBody{r.Body}); n != 0 || err != nil {
		t.Errorf("copy of the closed body = %d, %v; want 0, nil", n, err)
	}
}

// closeWaitConn is a connection whose Write of the request body returns
// only once closed is closed (or after a while): it holds the transport's
// write loop between writing the body and checking that the body ends.
type closeWaitConn struct {
	net.Conn
	marker []byte
	closed <-chan struct{}
}

func (c *closeWaitConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if bytes.Contains(b, c.marker) {
		select {
		case <-c.closed:
		case <-time.After(5 * time.Second):
		}
	}
	return n, err
}

// TestEarlyAnswerKeepsConnection replays, without relying on timing, the
// race that cut streams on a loaded machine: the server answers once it
// has the request's body, the SDK closes that body as soon as the response
// has come, and only then does the transport's write loop check that the
// body has ended. The response must still read to its end.
func TestEarlyAnswerKeepsConnection(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("first;"))
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write([]byte("second"))
	}))
	defer srv.Close()

	c := newHTTPClient(Options{}, nil)
	tr := c.Transport.(readOnlyBodies).next.(*http.Transport)
	defer tr.CloseIdleConnections()
	marker := []byte("bulwark-early-answer-marker")
	closed := make(chan struct{})
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &closeWaitConn{Conn: conn, marker: marker, closed: closed}, nil
	}

	wrote := make(chan error, 1)
	ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { wrote <- i.Err },
	}), 10*time.Second)
	defer cancel()
	body := append([]byte(`{"text":"`), marker...)
	req := sdkRequest(t, ctx, srv.URL, append(body, `"}`...))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	req.Body.Close() // as smithy-go's client handler does once Do returns
	close(closed)
	select {
	case err := <-wrote:
		if err != nil {
			t.Errorf("writing the request failed after the answer began: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the request's write did not end")
	}
	close(release)
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "first;second" {
		t.Fatalf("response body %q, %v; want %q, nil", b, err, "first;second")
	}
}
