package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Endpoint is a URL that receives events.
type Endpoint struct {
	URL string
	// Secret signs the deliveries: whsec_ followed by base64.
	Secret string
	// Events are the event types it receives; empty: all.
	Events []string
}

func (e Endpoint) wants(typ string) bool { return len(e.Events) == 0 || slices.Contains(e.Events, typ) }

// Options tune a Dispatcher; zero values take the defaults.
type Options struct {
	// Endpoints are the endpoints at start; SetEndpoints changes them.
	Endpoints []Endpoint
	// MaxAttempts is how many attempts a delivery has before it is dead
	// (default 8).
	MaxAttempts int
	// Backoff is the wait after the first failed attempt (default 10s),
	// doubled after each one up to MaxBackoff (default 1h).
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Poll is how often new events and due deliveries are looked for
	// (default 1s).
	Poll   time.Duration
	Client *http.Client
	Log    *slog.Logger
	// Now is the clock (default time.Now); Rand returns a number in
	// [0, 1) for the jitter (default math/rand/v2).
	Now  func() time.Time
	Rand func() float64
}

// Dispatcher fans events out into deliveries and sends them. It is safe
// for concurrent use; Start starts it, Close stops it and waits for it.
type Dispatcher struct {
	store Store
	opt   Options
	eps   atomic.Pointer[endpoints] // swapped whole by SetEndpoints
	log   *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
}

// New returns a Dispatcher over store. A secret that is not whsec_ and
// base64 is an error that names the endpoint, not the secret.
func New(store Store, o Options) (*Dispatcher, error) {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Backoff <= 0 {
		o.Backoff = 10 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	d := &Dispatcher{store: store, opt: o, log: o.Log, wake: make(chan struct{}, 1)}
	if err := d.SetEndpoints(o.Endpoints); err != nil {
		return nil, err
	}
	return d, nil
}

// endpoints are the endpoints in force and their signers.
type endpoints struct {
	list []Endpoint
	sign map[string]*standardwebhooks.Webhook // by endpoint URL
}

// SetEndpoints replaces the endpoints (a configuration reload), all at
// once or, when a secret is not whsec_ and base64, not at all, with an
// error that names the endpoint, not the secret. The events fanned out
// from then on go to the new endpoints; a pending delivery is sent with
// its endpoint's secret in force at each attempt, and one whose endpoint
// is gone is dead at its next attempt.
func (d *Dispatcher) SetEndpoints(eps []Endpoint) error {
	next := &endpoints{list: slices.Clone(eps), sign: map[string]*standardwebhooks.Webhook{}}
	for i, e := range eps {
		wh, err := ParseSecret(e.Secret)
		if err != nil {
			return fmt.Errorf("webhooks[%d] (%s): %w", i, e.URL, err)
		}
		next.sign[e.URL] = wh
	}
	d.eps.Store(next)
	return nil
}

// ParseSecret reads a whsec_ secret; its error never holds the secret.
func ParseSecret(s string) (*standardwebhooks.Webhook, error) {
	if len(s) < len("whsec_") || s[:len("whsec_")] != "whsec_" {
		return nil, errors.New("the secret must be whsec_ followed by base64")
	}
	wh, err := standardwebhooks.NewWebhook(s)
	if err != nil {
		return nil, errors.New("the secret must be whsec_ followed by base64 of at least one byte")
	}
	return wh, nil
}

// Start sends deliveries until Close.
func (d *Dispatcher) Start(ctx context.Context) {
	ctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	d.wg.Go(func() {
		t := time.NewTicker(d.opt.Poll)
		defer t.Stop()
		for {
			d.Tick(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-d.wake:
			}
		}
	})
}

// Close stops the dispatcher and waits for the attempts running. A
// delivery cut off is sent again by the next run (here or on another
// replica) when its claim runs out.
func (d *Dispatcher) Close() {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
}

// Poke makes the dispatcher look for events now.
func (d *Dispatcher) Poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// batchSize is how many events or deliveries a tick takes at once.
const batchSize = 32

// Tick fans out the new events and sends the deliveries due, once.
func (d *Dispatcher) Tick(ctx context.Context) {
	for ctx.Err() == nil {
		evs, err := d.store.NewEvents(ctx, batchSize)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("read webhook events", "error", err.Error())
			}
			break
		}
		eps := d.eps.Load().list
		for _, e := range evs {
			var ds []Delivery
			for _, ep := range eps {
				if ep.wants(e.Type) {
					ds = append(ds, NewDelivery(e, ep.URL, d.opt.Now()))
				}
			}
			if err := d.store.FanOut(ctx, e, ds); err != nil {
				if ctx.Err() == nil {
					d.log.Warn("fan out webhook event", "event", e.ID, "error", err.Error())
				}
				return
			}
		}
		if len(evs) < batchSize {
			break
		}
	}
	// The claim outlasts an attempt, so that no other replica sends a
	// delivery while this one does.
	lease := 2*d.opt.Timeout + d.opt.Poll
	for ctx.Err() == nil {
		due, err := d.store.ClaimDeliveries(ctx, d.opt.Now(), lease, batchSize)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("read webhook deliveries", "error", err.Error())
			}
			return
		}
		var wg sync.WaitGroup
		for _, dl := range due {
			wg.Go(func() { d.deliver(ctx, dl) })
		}
		wg.Wait()
		if len(due) < batchSize {
			return
		}
	}
}

// deliver makes one attempt at dl and records it.
func (d *Dispatcher) deliver(ctx context.Context, dl Delivery) {
	wh, ok := d.eps.Load().sign[dl.Endpoint]
	if !ok {
		// The endpoint left the configuration (a reload): the delivery is
		// dead; an operator retries it once the endpoint is back.
		dl.LastError, dl.State = "the endpoint is no longer configured", Dead
		dl.UpdatedAt = d.opt.Now()
		d.update(ctx, dl)
		return
	}
	status, retryAfter, err := d.send(ctx, wh, dl)
	if ctx.Err() != nil {
		return // cut off by Close: sent again when the claim runs out
	}
	now := d.opt.Now()
	dl.Attempts++
	dl.UpdatedAt, dl.LastStatus = now, status
	switch {
	case err == nil:
		dl.State, dl.LastError, dl.DeliveredAt = Delivered, "", &now
	case dl.Attempts >= d.opt.MaxAttempts:
		dl.State, dl.LastError = Dead, err.Error()
		d.log.Warn("webhook delivery dead", "delivery", dl.ID, "event", dl.EventID, "endpoint", dl.Endpoint, "attempts", dl.Attempts, "error", err.Error())
	default:
		dl.LastError, dl.NextAt = err.Error(), now.Add(d.Backoff(dl.Attempts, retryAfter))
	}
	d.update(ctx, dl)
}

func (d *Dispatcher) update(ctx context.Context, dl Delivery) {
	if err := d.store.UpdateDelivery(ctx, dl); err != nil && ctx.Err() == nil {
		d.log.Warn("record webhook delivery", "delivery", dl.ID, "error", err.Error())
	}
}

// Purge deletes the delivered and dead deliveries that ended before
// before, and the events that have no delivery left (Store.PurgeDeliveries).
func (d *Dispatcher) Purge(ctx context.Context, before time.Time) (int, error) {
	n, err := d.store.PurgeDeliveries(ctx, before)
	if err != nil {
		return 0, fmt.Errorf("purge webhook deliveries: %w", err)
	}
	return n, nil
}

// Backoff is the wait after the attempts-th failed attempt: Backoff
// doubled for each attempt before it, at most MaxBackoff, half of it
// fixed and half random; or retryAfter, when the endpoint asked for
// longer (at most MaxBackoff).
func (d *Dispatcher) Backoff(attempts int, retryAfter time.Duration) time.Duration {
	w := d.opt.Backoff
	for i := 1; i < attempts && w < d.opt.MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, d.opt.MaxBackoff)
	w = w/2 + time.Duration(d.opt.Rand()*float64(w/2))
	return max(w, min(retryAfter, d.opt.MaxBackoff))
}

// send posts dl, signed; its error says why it failed, without the
// secret or the answer's body.
func (d *Dispatcher) send(ctx context.Context, wh *standardwebhooks.Webhook, dl Delivery) (status int, retryAfter time.Duration, err error) {
	ts := d.opt.Now()
	sig, err := wh.Sign(dl.EventID, ts, dl.Payload)
	if err != nil {
		return 0, 0, fmt.Errorf("sign: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.Endpoint, bytes.NewReader(dl.Payload))
	if err != nil {
		return 0, 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Bulwark-Webhooks")
	req.Header.Set(standardwebhooks.HeaderWebhookID, dl.EventID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := d.opt.Client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return 0, 0, fmt.Errorf("send: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, nil
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(resp.Header.Get("Retry-After")); err == nil {
		retryAfter = t.Sub(ts)
	}
	return resp.StatusCode, retryAfter, fmt.Errorf("the endpoint answered %d", resp.StatusCode)
}
