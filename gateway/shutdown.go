package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-ai/bulwark/llm"
)

// ErrShuttingDown is the cause a server cancels its requests' contexts
// with (context.WithCancelCause) when it stops before they ended. A
// request that fails because of it is recorded as cut by the shutdown
// (error type "server_shutting_down"), not as canceled by its client;
// the API answers it with a 503 or, for a stream already under way, an
// error event saying so.
var ErrShuttingDown = errors.New("bulwark is shutting down")

// CutByShutdown returns err, a request's failure, marked with
// ErrShuttingDown when it is the cancel of ctx and ctx was canceled with
// ErrShuttingDown as its cause; else err itself (nil for nil). A failure
// of another kind keeps it: the upstream answered before the cancel.
func CutByShutdown(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrShuttingDown) || !errors.Is(context.Cause(ctx), ErrShuttingDown) {
		return err
	}
	var le *llm.Error
	if !errors.Is(err, context.Canceled) && (!errors.As(err, &le) || le.Kind != llm.KindCanceled) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrShuttingDown, err)
}
