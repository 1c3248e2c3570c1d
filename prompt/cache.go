package prompt

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Ref is a request's reference to a prompt: its id and at most one of a
// version number and a label. Neither resolves DefaultLabel if the
// prompt has it, else its newest version.
type Ref struct {
	ID      string
	Version int
	Label   string
}

// ParseVersion reads the version of OpenAI's prompt parameter, a string:
// a number is a version, "latest" the newest version, anything else a
// label.
func ParseVersion(s string) (Ref, error) {
	if s == "" {
		return Ref{}, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 {
			return Ref{}, fmt.Errorf("prompt version %d is invalid: versions are numbered from 1", n)
		}
		return Ref{Version: n}, nil
	}
	if s != Latest {
		if err := CheckLabel(s); err != nil {
			return Ref{}, err
		}
	}
	return Ref{Label: s}, nil
}

// String is the reference as a request would write it.
func (r Ref) String() string {
	switch {
	case r.Version > 0:
		return fmt.Sprintf("%s version %d", r.ID, r.Version)
	case r.Label != "":
		return fmt.Sprintf("%s label %s", r.ID, r.Label)
	}
	return r.ID
}

// NotFoundError says what of a reference does not exist.
type NotFoundError struct{ Msg string }

func (e *NotFoundError) Error() string { return e.Msg }
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// Loader is what a Cache reads from a store.
type Loader interface {
	Prompts(ctx context.Context, tenantID string) ([]Prompt, error)
	PromptVersions(ctx context.Context, tenantID, id string) ([]Version, error)
}

// Cache is the in-memory copy of every prompt and version of a store
// that the request path resolves from. Reload replaces the copy whole;
// a failed reload keeps the copy in force, so that prompts keep serving
// while the store is down. It is safe for concurrent use.
type Cache struct {
	store Loader
	snap  atomic.Pointer[snapshot]
	// reload serialises reloads, so that a slow old load cannot replace
	// a newer one.
	reload sync.Mutex

	mu       sync.Mutex // guards loadedAt and lastErr
	loadedAt time.Time
	lastErr  error
}

type key struct{ tenant, id string }

type entry struct {
	prompt   Prompt
	versions map[int]*Version
}

type snapshot struct {
	prompts map[key]*entry
}

// NewCache returns an empty Cache over store; call Reload to fill it.
func NewCache(store Loader) *Cache {
	c := &Cache{store: store}
	c.snap.Store(&snapshot{prompts: map[key]*entry{}})
	return c
}

// Reload replaces the copy with the store's prompts. On error the copy
// in force stays.
func (c *Cache) Reload(ctx context.Context) error {
	c.reload.Lock()
	defer c.reload.Unlock()
	s, err := c.load(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastErr = err
		return err
	}
	c.snap.Store(s)
	c.loadedAt, c.lastErr = time.Now(), nil
	return nil
}

// load reads the prompts, then the versions: versions are never removed,
// so every version a label read first points at is in what is read
// second.
func (c *Cache) load(ctx context.Context) (*snapshot, error) {
	ps, err := c.store.Prompts(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("load prompts: %w", err)
	}
	vs, err := c.store.PromptVersions(ctx, "", "")
	if err != nil {
		return nil, fmt.Errorf("load prompt versions: %w", err)
	}
	s := &snapshot{prompts: make(map[key]*entry, len(ps))}
	for _, p := range ps {
		s.prompts[key{p.TenantID, p.ID}] = &entry{prompt: p, versions: map[int]*Version{}}
	}
	for i := range vs {
		v := &vs[i]
		if e := s.prompts[key{v.TenantID, v.PromptID}]; e != nil {
			e.versions[v.Number] = v
		}
	}
	return s, nil
}

// Status returns when the copy in force was loaded (zero: never) and the
// error of the last reload if it failed.
func (c *Cache) Status() (loadedAt time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadedAt, c.lastErr
}

// Run reloads the cache every interval until ctx is done; failures keep
// the copy in force and are retried at the next tick.
func (c *Cache) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, every)
			_ = c.Reload(rctx)
			cancel()
		}
	}
}

// Resolve returns the version of tenant's prompt that r references. A
// prompt, version or label that does not exist is a *NotFoundError
// (errors.Is ErrNotFound). The version returned is shared: it must not
// be modified.
func (c *Cache) Resolve(tenantID string, r Ref) (*Version, error) {
	e := c.snap.Load().prompts[key{tenantID, r.ID}]
	if e == nil {
		return nil, &NotFoundError{Msg: fmt.Sprintf("prompt %q not found", r.ID)}
	}
	n := r.Version
	switch {
	case n > 0:
	case r.Label == Latest:
		n = e.prompt.Latest
	case r.Label != "":
		var ok bool
		if n, ok = e.prompt.Labels[r.Label]; !ok {
			return nil, &NotFoundError{Msg: fmt.Sprintf("prompt %q has no label %q", r.ID, r.Label)}
		}
	default:
		var ok bool
		if n, ok = e.prompt.Labels[DefaultLabel]; !ok {
			n = e.prompt.Latest
		}
	}
	v := e.versions[n]
	if v == nil {
		return nil, &NotFoundError{Msg: fmt.Sprintf("prompt %q has no version %d", r.ID, n)}
	}
	return v, nil
}
