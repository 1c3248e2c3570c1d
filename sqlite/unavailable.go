package sqlite

import (
	"context"
	"errors"
	"fmt"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/bulwark-ai/bulwark/tenant"
)

// opError wraps err, the failure of op, marking it tenant.ErrUnavailable
// when the database could not be used for now — another connection held
// its lock past the busy timeout (SQLITE_BUSY), or the caller's deadline
// passed while waiting for it — so that the API answers 503, not 500.
func opError(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, tenant.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func unavailable(err error) bool {
	if errors.Is(err, tenant.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return false
	}
	return errCode(err)&0xff == sqlite3.SQLITE_BUSY || errors.Is(err, context.DeadlineExceeded)
}
