package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-ai/bulwark/tenant"
)

// opError wraps err, the failure of op, marking it tenant.ErrUnavailable
// when it says the server could not be reached (unreachable) rather than
// that it refused what it was asked, so that the API answers 503, not 500.
// A canceled context is the caller's doing and is not marked.
func opError(op string, err error) error {
	if !errors.Is(err, context.Canceled) && !errors.Is(err, tenant.ErrUnavailable) && unreachable(err) {
		return fmt.Errorf("%s: %w: %w", op, tenant.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
