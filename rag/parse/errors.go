package parse

import (
	"errors"
	"strings"
)

// The kinds of parse failure. Every error Parse returns is an *Error that
// matches exactly one of them with errors.Is; its message is fit to show
// a user as a file's last_error.
var (
	// ErrEmpty: the file is empty or holds only white space.
	ErrEmpty = errors.New("empty document")
	// ErrNoText: the file parsed but holds no text (a page of scripts).
	ErrNoText = errors.New("no text")
	// ErrScanned: a PDF whose pages have no text layer, such as a scan.
	ErrScanned = errors.New("no text layer (scanned document?)")
	// ErrEncrypted: the file needs a password.
	ErrEncrypted = errors.New("password-protected")
	// ErrTooLarge: the file, what it expands to or the time it takes
	// exceeds a Limit.
	ErrTooLarge = errors.New("exceeds a limit")
	// ErrUnsupported: the content is of a type Parse does not read.
	ErrUnsupported = errors.New("unsupported file type")
	// ErrMalformed: the file is of a known type but broken.
	ErrMalformed = errors.New("malformed document")
)

// Error is a parse failure: its kind (one of the Err values), the format
// it was read as, a detail for people and the underlying cause if any.
type Error struct {
	Format Format
	Kind   error
	Detail string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Format != "" {
		b.WriteString(string(e.Format))
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
