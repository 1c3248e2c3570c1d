package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/llm"
)

// faultKind is the fault a request drew.
type faultKind uint8

// The faults, in the order they are checked after the error rates (the
// order of config.Faults).
const (
	faultNone faultKind = iota
	faultError
	faultReset
	faultHang
	faultSlowFirstToken
	faultContentFilter
	faultCut
	faultStall
	faultMalformed
	faultNoDone
	faultErrorEvent
)

// fault is the fault one request drew.
type fault struct {
	kind   faultKind
	status int          // of faultError
	cfg    config.Fault // of the others
}

// midStream reports whether the fault fires after some tokens.
func (f fault) midStream() bool {
	return f.kind == faultCut || f.kind == faultStall || f.kind == faultMalformed || f.kind == faultErrorEvent
}

type statusRate struct {
	status int
	rate   float64
}

type namedFault struct {
	kind faultKind
	name string
	f    config.Fault
}

// faultSet is a model's faults ready to draw from. It is immutable: a change
// replaces it.
type faultSet struct {
	cfg        config.Faults
	errorRates []statusRate // by ascending status, rates clamped to [0, 1]
	others     []namedFault // in check order, rates clamped to [0, 1]
	retryAfter time.Duration
}

func namedFaults(f *config.Faults) []namedFault {
	return []namedFault{
		{faultReset, "reset", f.Reset},
		{faultHang, "hang", f.Hang},
		{faultSlowFirstToken, "slow_first_token", f.SlowFirstToken},
		{faultContentFilter, "content_filter", f.ContentFilter},
		{faultCut, "cut", f.Cut},
		{faultStall, "stall", f.Stall},
		{faultMalformed, "malformed", f.Malformed},
		{faultNoDone, "no_done", f.NoDone},
		{faultErrorEvent, "error_event", f.ErrorEvent},
	}
}

func clampRate(r float64) float64 {
	if !(r > 0) { // NaN too
		return 0
	}
	return min(r, 1)
}

func compileFaults(f config.Faults) *faultSet {
	fs := &faultSet{cfg: cloneFaults(f), retryAfter: max(f.RetryAfter.D(), 0)}
	for _, st := range slices.Sorted(maps.Keys(f.ErrorRates)) {
		if r := clampRate(f.ErrorRates[st]); r > 0 && st >= 400 && st <= 599 {
			fs.errorRates = append(fs.errorRates, statusRate{st, r})
		}
	}
	for _, nf := range namedFaults(&f) {
		if nf.f.Rate = clampRate(nf.f.Rate); nf.f.Rate > 0 {
			nf.f.AfterTokens = max(nf.f.AfterTokens, 0)
			nf.f.Delay = max(nf.f.Delay, 0)
			fs.others = append(fs.others, nf)
		}
	}
	return fs
}

// draw picks the fault of a request from one uniform value u in [0, 1).
func (fs *faultSet) draw(u float64) fault {
	acc := 0.0
	for _, e := range fs.errorRates {
		if acc += e.rate; u < acc {
			return fault{kind: faultError, status: e.status}
		}
	}
	for _, o := range fs.others {
		if acc += o.f.Rate; u < acc {
			return fault{kind: o.kind, cfg: o.f}
		}
	}
	return fault{}
}

func cloneFaults(f config.Faults) config.Faults {
	f.ErrorRates = maps.Clone(f.ErrorRates)
	return f
}

// validateFaults reports every problem of f at once, wrapped in
// ErrInvalidFaults. The rules are config's.
func validateFaults(f config.Faults) error {
	var errs []error
	rate := func(path string, r float64) {
		if !(r >= 0 && r <= 1) {
			errs = append(errs, fmt.Errorf("%s: a rate is a probability from 0 to 1, got %g", path, r))
		}
	}
	sum := 0.0
	for _, st := range slices.Sorted(maps.Keys(f.ErrorRates)) {
		path := fmt.Sprintf("error_rates.%d", st)
		if st < 400 || st > 599 {
			errs = append(errs, fmt.Errorf("%s: %d is not an HTTP error status (400 to 599)", path, st))
		}
		rate(path, f.ErrorRates[st])
		sum += f.ErrorRates[st]
	}
	if sum > 1+1e-9 {
		errs = append(errs, fmt.Errorf("error_rates: the error rates add up to %g; they must add up to at most 1", sum))
	}
	if f.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("retry_after: negative duration %s", f.RetryAfter))
	}
	for _, nf := range namedFaults(&f) {
		rate(nf.name+".rate", nf.f.Rate)
		if nf.f.AfterTokens < 0 {
			errs = append(errs, fmt.Errorf("%s.after_tokens: must not be negative, got %d", nf.name, nf.f.AfterTokens))
		}
		if nf.f.Delay < 0 {
			errs = append(errs, fmt.Errorf("%s.delay: negative duration %s", nf.name, nf.f.Delay))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidFaults, errors.Join(errs...))
}

// statusError is the answer of the error_rates fault: the status with the
// body OpenAI sends for it.
func (s *Sim) statusError(m *model, status int, retryAfter time.Duration) *llm.Error {
	e := &llm.Error{
		Kind: llm.KindForStatus(status), Status: status, Type: typeInvalidRequest,
		Message: http.StatusText(status), Provider: s.name, Model: m.name,
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("HTTP status %d.", status)
	}
	if status >= 500 {
		e.Type = typeServer
	}
	switch status {
	case http.StatusTooManyRequests:
		e.Type, e.Code = "requests", codeRateLimit
		e.Message = fmt.Sprintf("Rate limit reached for %s. Please try again later.", m.name)
		if retryAfter > 0 {
			e.Message = fmt.Sprintf("Rate limit reached for %s. Please try again in %s.", m.name, retryAfter)
		}
	case http.StatusUnauthorized:
		e.Code = "invalid_api_key"
		e.Message = "Incorrect API key provided."
	case http.StatusInternalServerError:
		e.Message = "The server had an error while processing your request. Sorry about that!"
	case http.StatusBadGateway:
		e.Message = "Bad gateway."
	case http.StatusServiceUnavailable:
		e.Message = "The engine is currently overloaded, please try again later."
	case http.StatusGatewayTimeout:
		e.Message = "Gateway timeout."
	case 529:
		e.Type, e.Message = "overloaded_error", "Overloaded."
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		e.RetryAfter = retryAfter
	}
	return e
}

// refusal is the answer of a request whose fault refuses it outright (an
// error status or the content filter), or nil.
func (c *call) refusal() *llm.Error {
	switch c.fault.kind {
	case faultError:
		e := c.s.statusError(c.m, c.fault.status, c.faultRetryAfter)
		if e.Status == http.StatusTooManyRequests && !c.rate.limited() {
			c.rate = rateInfo{hasReq: true, resetReq: max(e.RetryAfter, time.Second)}
		}
		return e
	case faultContentFilter:
		return &llm.Error{
			Kind: llm.KindContentFilter, Status: http.StatusBadRequest, Type: typeInvalidRequest,
			Param: "prompt", Code: "content_filter",
			Message:  "The prompt was refused by the content filter: it was flagged by the content management policy.",
			Provider: c.s.name, Model: c.m.name,
		}
	}
	return nil
}

// connectionError is what an in-process caller gets where an HTTP client
// would see its connection closed.
func (s *Sim) connectionError(m *model, msg string) *llm.Error {
	return &llm.Error{Kind: llm.KindConnection, Message: msg, Provider: s.name, Model: m.name}
}

// streamError is what an in-process stream returns where an HTTP stream
// would be cut or carry a malformed event.
func (s *Sim) streamError(m *model, b llm.Break, msg string) *llm.Error {
	return &llm.Error{Kind: llm.KindStreamBroken, Status: http.StatusOK, Message: msg, Provider: s.name, Model: m.name, Break: b}
}

// errorEventError is what an in-process caller gets where an HTTP client
// would read the error event of the error_event fault.
func (s *Sim) errorEventError(m *model) *llm.Error {
	return &llm.Error{Kind: llm.KindServer, Type: "server_error", Code: "server_error", Message: errorEventMessage,
		Provider: s.name, Model: m.name, Break: llm.BreakErrorEvent}
}

// errorEventMessage is the message of the error_event fault's event.
const errorEventMessage = "The server had an error while streaming the response."

// malformedError is what an in-process caller gets where an HTTP client
// would get a body that is not JSON.
func (s *Sim) malformedError(m *model) *llm.Error {
	return &llm.Error{Kind: llm.KindServer, Status: http.StatusOK, Message: "malformed response body: invalid JSON", Provider: s.name, Model: m.name}
}

// ctxError is the error of a call whose context ended: KindTimeout on a
// deadline, KindCanceled otherwise.
func (s *Sim) ctxError(m *model, err error) *llm.Error {
	e := &llm.Error{Kind: llm.KindCanceled, Message: "the caller canceled the request", Provider: s.name, Err: err}
	if m != nil {
		e.Model = m.name
	}
	if errors.Is(err, context.DeadlineExceeded) {
		e.Kind, e.Message = llm.KindTimeout, "no answer before the deadline"
	}
	return e
}
