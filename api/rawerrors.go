package api

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// WithJSONRawErrors wraps ln so that the few answers net/http writes by
// itself, before any handler runs (400 for a malformed request line or
// header, 431 for headers far past the limit, 501 for an unsupported
// transfer encoding), go out in OpenAI's error format instead of plain
// text, which no SDK reads. net/http offers no hook for them; they are
// recognised by their exact shape on the connection: the status line
// followed at once by "Content-Type: text/plain; charset=utf-8",
// "Connection: close" and the blank line, with no Date header — which no
// response of a handler has (a handler's response carries Date). Every
// other write passes through untouched.
// maxHeaderBytes is the server's MaxHeaderBytes, for the 431's message.
func WithJSONRawErrors(ln net.Listener, maxHeaderBytes int) net.Listener {
	return rawErrorListener{ln, maxHeaderBytes}
}

type rawErrorListener struct {
	net.Listener
	maxHeaderBytes int
}

func (l rawErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return rawErrorConn{c, l.maxHeaderBytes}, nil
}

type rawErrorConn struct {
	net.Conn
	maxHeaderBytes int
}

// rawErrorHeaders is what net/http writes after the status line of its
// own error answers (server.go's errorHeaders).
const rawErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c rawErrorConn) Write(p []byte) (int, error) {
	if out, ok := rewriteRawError(p, c.maxHeaderBytes); ok {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// rewriteRawError returns net/http's own error answer p in OpenAI's
// error format, or false when p is not one. maxHeaderBytes goes in a
// 431's message.
func rewriteRawError(p []byte, maxHeaderBytes int) ([]byte, bool) {
	if !bytes.HasPrefix(p, []byte("HTTP/1.")) {
		return nil, false
	}
	statusLine, rest, ok := bytes.Cut(p, []byte(rawErrorHeaders))
	if !ok || bytes.Contains(statusLine, []byte("\r\n")) {
		return nil, false
	}
	// "HTTP/1.1 400 Bad Request"
	parts := strings.SplitN(string(statusLine), " ", 3)
	if len(parts) < 2 || (parts[0] != "HTTP/1.1" && parts[0] != "HTTP/1.0") {
		return nil, false
	}
	status, err := strconv.Atoi(parts[1])
	if err != nil || status < 400 || status > 599 {
		return nil, false
	}
	// The body is "400 Bad Request" or "400 Bad Request: why".
	why := strings.TrimSpace(string(rest))
	if _, detail, ok := strings.Cut(why, ": "); ok {
		why = detail
	} else {
		why = strings.ToLower(http.StatusText(status))
	}
	code := strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
	typ := TypeInvalidRequest
	if status >= 500 {
		typ = TypeServer
	}
	msg := "the request could not be read: " + why
	if status == http.StatusRequestHeaderFieldsTooLarge && maxHeaderBytes > 0 {
		msg = fmt.Sprintf("the request's headers are larger than the %d bytes this server takes (server.max_header_bytes)", maxHeaderBytes)
	}
	body := Errorf(status, typ, code, "%s", msg).Body()
	return fmt.Appendf(nil, "%s %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		parts[0], status, http.StatusText(status), len(body), body), true
}
