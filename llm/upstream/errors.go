package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-ai/bulwark/llm"
)

// Redacted stands in a message for an API key.
const Redacted = "[redacted]"

// MaxMessageBytes bounds an upstream error message kept in an *llm.Error.
const MaxMessageBytes = 1024

// Errors makes the *llm.Error values of one provider: named for it, and
// with its API key never in a message.
type Errors struct {
	// Provider is the provider's name in Bulwark's configuration.
	Provider string
	// APIKey is the key to keep out of messages; "" for none.
	APIKey string
}

// Errorf returns an *llm.Error of kind k about model with a formatted,
// redacted message. Every error among args is written as Describe writes
// it: the message reaches clients, the cause (in Err) only the log.
func (e Errors) Errorf(k llm.Kind, model string, cause error, format string, args ...any) *llm.Error {
	for i, a := range args {
		if err, ok := a.(error); ok {
			args[i] = Describe(err)
		}
	}
	return &llm.Error{
		Kind:     k,
		Message:  e.Redact(fmt.Sprintf(format, args...)),
		Provider: e.Provider,
		Model:    model,
		Err:      cause,
	}
}

// Redact removes the API key from s, should an upstream or a library ever
// echo it. A key shorter than four bytes is not looked for.
func (e Errors) Redact(s string) string {
	if len(e.APIKey) >= 4 && strings.Contains(s, e.APIKey) {
		return strings.ReplaceAll(s, e.APIKey, Redacted)
	}
	return s
}

// ReadBody reads a successful response body within limit bytes and
// closes it. A read cut by ctx ending is KindCanceled or KindTimeout,
// another failed read KindConnection, and a body over limit KindServer.
func (e Errors) ReadBody(ctx context.Context, resp *http.Response, model string, limit int) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		if k, ok := ContextKind(ctx, err); ok {
			return nil, e.Errorf(k, model, err, "read response: %v", err)
		}
		return nil, e.Errorf(llm.KindConnection, model, err, "read response: %v", err)
	}
	if len(b) > limit {
		return nil, e.Errorf(llm.KindServer, model, nil, "response body exceeds %d bytes", limit)
	}
	return b, nil
}

// TransportError maps a failure to get response headers for op (e.g.
// "post /v1/messages"): the context ending, a timeout, or a connection
// that could not be made or was lost.
func (e Errors) TransportError(ctx context.Context, model, op string, err error) *llm.Error {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the URL; the cause alone says what happened.
		cause = ue.Err
	}
	if k, ok := ContextKind(ctx, err); ok {
		return e.Errorf(k, model, cause, "%s: %v", op, cause)
	}
	kind := llm.KindConnection
	var oe *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &oe) && oe.Op == "dial":
		// Could not connect, timed out or not.
	case errors.As(err, &ne) && ne.Timeout():
		kind = llm.KindTimeout
	}
	return e.Errorf(kind, model, cause, "%s: %v", op, cause)
}

// ContextKind reports whether err is ctx ending, and how: KindCanceled or
// KindTimeout. err may be nil to ask about ctx alone.
func ContextKind(ctx context.Context, err error) (llm.Kind, bool) {
	cerr := ctx.Err()
	switch {
	case errors.Is(cerr, context.Canceled):
		return llm.KindCanceled, true
	case cerr != nil, errors.Is(err, context.DeadlineExceeded):
		return llm.KindTimeout, true
	case errors.Is(err, context.Canceled):
		return llm.KindCanceled, true
	}
	return 0, false
}

// StatusMessage is the message of a failed answer whose body said
// nothing: the status text, lower case, or "status N".
func StatusMessage(status int) string {
	if msg := strings.ToLower(http.StatusText(status)); msg != "" {
		return msg
	}
	return fmt.Sprintf("status %d", status)
}

// Clip makes s a bounded (MaxMessageBytes and an ellipsis), valid UTF-8,
// trimmed message.
func Clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > MaxMessageBytes {
		i := MaxMessageBytes
		for i > MaxMessageBytes-utf8.UTFMax && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// Describe says what err is without the network addresses and resolver
// details it may hold: "dial: connect: connection refused" rather than
// "dial tcp 10.0.0.7:443: connect: connection refused", so that an error
// a client reads never maps the network behind Bulwark. Addresses a
// library wrote into a plain message are masked too.
func Describe(err error) string {
	var (
		ue *url.Error
		oe *net.OpError
		de *net.DNSError
		se *os.SyscallError
	)
	switch {
	case errors.As(err, &ue):
		return Describe(ue.Err)
	case errors.As(err, &de):
		if de.IsTimeout {
			return "name lookup timed out"
		}
		return "name lookup failed: " + de.Err
	case errors.As(err, &oe):
		if oe.Err == nil {
			return oe.Op
		}
		return oe.Op + ": " + Describe(oe.Err)
	case errors.As(err, &se):
		return se.Syscall + ": " + se.Err.Error()
	}
	return addresses.ReplaceAllString(err.Error(), "[address]")
}

// addresses are IPv4 addresses (with a port), bracketed IPv6 addresses
// with a port, and host:port pairs.
var addresses = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b|\[[0-9a-fA-F:.%]+\](:\d+)?|\b[a-zA-Z0-9.-]+:\d{2,5}\b`)
