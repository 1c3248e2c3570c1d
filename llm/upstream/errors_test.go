package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm"
)

// timeoutError is a net.Error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func expired() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), -1)
	cancel() // the deadline, already past, stays the reason
	return ctx
}

func TestTransportError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	readTimeout := &net.OpError{Op: "read", Net: "tcp", Err: timeoutError{}}
	wrap := func(err error) error { return &url.Error{Op: "Post", URL: "https://api.example/v1/x", Err: err} }
	bg := context.Background()
	for _, c := range []struct {
		name  string
		ctx   context.Context
		err   error
		kind  llm.Kind
		cause error
	}{
		{"canceled context", canceled(), wrap(context.Canceled), llm.KindCanceled, context.Canceled},
		{"canceled context, other error", canceled(), wrap(io.EOF), llm.KindCanceled, io.EOF},
		{"expired context", expired(), wrap(context.DeadlineExceeded), llm.KindTimeout, context.DeadlineExceeded},
		{"deadline error, live context", bg, wrap(context.DeadlineExceeded), llm.KindTimeout, context.DeadlineExceeded},
		{"canceled error, live context", bg, wrap(context.Canceled), llm.KindCanceled, context.Canceled},
		{"connection refused", bg, wrap(refused), llm.KindConnection, refused},
		{"dial timeout", bg, wrap(dialTimeout), llm.KindConnection, dialTimeout},
		{"connection reset", bg, wrap(reset), llm.KindConnection, reset},
		{"read timeout", bg, wrap(readTimeout), llm.KindTimeout, readTimeout},
		{"not a url.Error", bg, io.ErrUnexpectedEOF, llm.KindConnection, io.ErrUnexpectedEOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := Errors{Provider: "p", APIKey: "sk-secret"}.TransportError(c.ctx, "m", "post /chat/completions", c.err)
			if e.Kind != c.kind {
				t.Errorf("kind %s, want %s", e.Kind, c.kind)
			}
			if e.Err != c.cause {
				t.Errorf("cause %v, want %v", e.Err, c.cause)
			}
			if want := "post /chat/completions: " + Describe(c.cause); e.Message != want {
				t.Errorf("message %q, want %q", e.Message, want)
			}
			if e.Provider != "p" || e.Model != "m" || e.Status != 0 {
				t.Errorf("provider %q model %q status %d", e.Provider, e.Model, e.Status)
			}
		})
	}
}

func TestTransportErrorRedacts(t *testing.T) {
	err := &url.Error{Op: "Post", URL: "https://x", Err: errors.New("proxy said: bad key sk-secret")}
	e := Errors{Provider: "p", APIKey: "sk-secret"}.TransportError(context.Background(), "m", "post /x", err)
	if strings.Contains(e.Error(), "sk-secret") || !strings.Contains(e.Message, Redacted) {
		t.Errorf("message %q", e.Message)
	}
}

func TestContextKind(t *testing.T) {
	bg := context.Background()
	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		kind llm.Kind
		ok   bool
	}{
		{"live, nil", bg, nil, 0, false},
		{"live, other", bg, io.EOF, 0, false},
		{"canceled, nil", canceled(), nil, llm.KindCanceled, true},
		{"canceled wins over deadline error", canceled(), context.DeadlineExceeded, llm.KindCanceled, true},
		{"expired, nil", expired(), nil, llm.KindTimeout, true},
		{"expired, canceled error", expired(), context.Canceled, llm.KindTimeout, true},
		{"live, deadline error", bg, context.DeadlineExceeded, llm.KindTimeout, true},
		{"live, canceled error", bg, context.Canceled, llm.KindCanceled, true},
	} {
		if k, ok := ContextKind(c.ctx, c.err); k != c.kind || ok != c.ok {
			t.Errorf("%s: (%s, %v), want (%s, %v)", c.name, k, ok, c.kind, c.ok)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct {
		key, in, want string
	}{
		{"sk-secret", "bad key sk-secret, and sk-secret again", "bad key [redacted], and [redacted] again"},
		{"sk-secret", "nothing to hide", "nothing to hide"},
		{"", "an empty key redacts nothing", "an empty key redacts nothing"},
		{"abc", "a short key abc is not looked for", "a short key abc is not looked for"},
		{"abcd", "four bytes abcd are", "four bytes [redacted] are"},
	} {
		if got := (Errors{APIKey: c.key}).Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) with key %q = %q, want %q", c.in, c.key, got, c.want)
		}
	}
}

func TestErrorf(t *testing.T) {
	cause := errors.New("cause")
	e := Errors{Provider: "p", APIKey: "sk-secret"}.Errorf(llm.KindServer, "m", cause, "upstream echoed %s (%d)", "sk-secret", 7)
	if e.Kind != llm.KindServer || e.Provider != "p" || e.Model != "m" || e.Err != cause ||
		e.Message != "upstream echoed [redacted] (7)" {
		t.Errorf("%+v", e)
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data string
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// closeRecorder records that the body was closed.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestReadBody(t *testing.T) {
	bg := context.Background()
	for _, c := range []struct {
		name  string
		ctx   context.Context
		body  io.Reader
		limit int
		want  string
		kind  llm.Kind // of the error; 0 for none
	}{
		{"under the cap", bg, strings.NewReader("hello"), 10, "hello", 0},
		{"at the cap", bg, strings.NewReader("0123456789"), 10, "0123456789", 0},
		{"over the cap", bg, strings.NewReader("0123456789x"), 10, "", llm.KindServer},
		{"empty", bg, strings.NewReader(""), 10, "", 0},
		{"connection lost", bg, &failingReader{"par", io.ErrUnexpectedEOF}, 10, "", llm.KindConnection},
		{"context canceled", canceled(), &failingReader{"par", context.Canceled}, 10, "", llm.KindCanceled},
		{"context expired", expired(), &failingReader{"par", io.ErrUnexpectedEOF}, 10, "", llm.KindTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := &closeRecorder{Reader: c.body}
			b, err := Errors{Provider: "p"}.ReadBody(c.ctx, &http.Response{Body: body}, "m", c.limit)
			if !body.closed {
				t.Error("body not closed")
			}
			if c.kind == 0 {
				if err != nil || string(b) != c.want {
					t.Errorf("(%q, %v), want %q", b, err, c.want)
				}
				return
			}
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != c.kind || e.Provider != "p" || e.Model != "m" || b != nil {
				t.Errorf("(%q, %v), want a %s error", b, err, c.kind)
			}
		})
	}
}

func TestReadErrorBody(t *testing.T) {
	body := &closeRecorder{Reader: strings.NewReader(strings.Repeat("x", MaxErrorBytes+10))}
	if b := ReadErrorBody(&http.Response{Body: body}); len(b) != MaxErrorBytes || !body.closed {
		t.Errorf("read %d bytes, closed %v", len(b), body.closed)
	}
	body = &closeRecorder{Reader: &failingReader{"partial", io.ErrUnexpectedEOF}}
	if b := ReadErrorBody(&http.Response{Body: body}); string(b) != "partial" {
		t.Errorf("read %q", b)
	}
}

func TestStatusMessage(t *testing.T) {
	for status, want := range map[int]string{
		404: "not found",
		503: "service unavailable",
		599: "status 599",
	} {
		if got := StatusMessage(status); got != want {
			t.Errorf("StatusMessage(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"  trimmed \n", "trimmed"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{strings.Repeat("a", MaxMessageBytes), strings.Repeat("a", MaxMessageBytes)},
		{strings.Repeat("a", MaxMessageBytes+1), strings.Repeat("a", MaxMessageBytes) + "…"},
		// A two-byte rune straddling the cap is not cut in half.
		{"a" + strings.Repeat("é", MaxMessageBytes), "a" + strings.Repeat("é", (MaxMessageBytes-1)/2) + "…"},
	} {
		got := Clip(c.in)
		if got != c.want || !utf8.ValidString(got) || len(got) > MaxMessageBytes+len("…") {
			t.Errorf("Clip(%.20q…) = %.20q… (%d bytes), want %.20q… (%d bytes)", c.in, got, len(got), c.want, len(c.want))
		}
	}
}

// What an error says reaches clients: never the upstream's address, a
// resolver, or the local address of a cut connection.
func TestDescribeKeepsAddressesOut(t *testing.T) {
	ip := net.ParseIP("10.0.0.7")
	for _, c := range []struct {
		err  error
		want string
	}{
		{&url.Error{Op: "Post", URL: "https://10.0.0.7:443/v1", Err: &net.OpError{Op: "dial", Net: "tcp",
			Addr: &net.TCPAddr{IP: ip, Port: 443}, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}},
			"dial: connect: connection refused"},
		{&net.OpError{Op: "read", Net: "tcp", Source: &net.TCPAddr{IP: net.ParseIP("192.168.1.2"), Port: 50000},
			Addr: &net.TCPAddr{IP: ip, Port: 443}, Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "read: read: connection reset by peer"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "vllm.internal", Server: "10.96.0.10:53"}},
			"name lookup failed: no such host"},
		{errors.New("tls: handshake with 10.0.0.7:443 and [fd00::1]:8443 and vllm.internal:8000 failed"),
			"tls: handshake with [address] and [address] and [address] failed"},
	} {
		if got := Describe(c.err); got != c.want {
			t.Errorf("Describe(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	e := Errors{Provider: "p"}.Errorf(llm.KindStreamBroken, "m", nil, "stream cut: %v", &net.OpError{Op: "read", Net: "tcp",
		Addr: &net.TCPAddr{IP: ip, Port: 443}, Err: os.NewSyscallError("read", syscall.ECONNRESET)})
	if strings.Contains(e.Message, "10.0.0.7") {
		t.Errorf("message %q holds the address", e.Message)
	}
}
