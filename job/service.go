package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwark-ai/bulwark/webhook"
)

// Result is what one run of a job's request came to: the endpoint's
// status and body.
type Result struct {
	StatusCode int
	Body       []byte
	// RetryAfter is how long the endpoint asked to wait before the
	// request is tried again (its Retry-After).
	RetryAfter time.Duration
	// Busy marks a refusal that passes if waited out (a rate limit,
	// admission control shedding the job's priority).
	Busy bool
}

// Executor runs a job's request as the job's key and returns the
// endpoint's answer. A cancelled ctx may end it with anything: its result
// is not kept.
type Executor interface {
	Execute(ctx context.Context, j Job) Result
}

// Outcome turns a run's answer into the job's final status. The API of
// the job's kind says what its answers mean (a response's body holds its
// status).
type Outcome func(j Job, r Result) Status

// Options tune a Service; zero values take the defaults.
type Options struct {
	// Workers is how many jobs run at once in this process (default 4).
	Workers int
	// Lease is how long a claim on a job lasts without renewal (default
	// 15s); renewed every third of it.
	Lease time.Duration
	// Poll is how often the store is looked at for jobs (default 1s).
	Poll time.Duration
	// Retries is how many times a request that failed in a way that may
	// pass is tried again (default 3); Backoff the first wait (default
	// 1s), doubled each time up to 30s.
	Retries int
	Backoff time.Duration
	// Window is how long after its creation a job refused as busy is
	// still tried (default 24h); then it fails.
	Window time.Duration
	// Owner names this process in leases (default: random).
	Owner string
	// Events names the webhook event of a job's end, by kind and status;
	// none: no event.
	Events func(k Kind, s Status) string
	// Outcome reads a run's final status (default: 2xx completed, else
	// failed).
	Outcome Outcome
	// Ended is called after a job's end was stored (to wake the webhook
	// dispatcher); may be nil.
	Ended func()
	// Dropped is called when a run's answer is not kept because the job
	// was cancelled or deleted while it ran (here or on another
	// replica), so that what the run stored on its way (a background
	// response's stored copy) can be removed; may be nil.
	Dropped func(ctx context.Context, j Job)
	Log     *slog.Logger
}

// Service creates, runs and cancels jobs. It is safe for concurrent use;
// Start starts its workers, Close stops them and waits for them.
type Service struct {
	store Store
	exec  Executor
	opt   Options
	log   *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
	sem    chan struct{}

	mu      sync.Mutex
	running map[string]*running // by job id
}

// running is a run of a job in this process.
type running struct {
	stop context.CancelFunc
	done chan struct{} // closed when the run has returned
}

// New returns a Service over store. Call Start to run jobs.
func New(store Store, exec Executor, o Options) *Service {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Lease <= 0 {
		o.Lease = 15 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Window <= 0 {
		o.Window = 24 * time.Hour
	}
	if o.Owner == "" {
		o.Owner = NewID("runner_")
	}
	if o.Outcome == nil {
		o.Outcome = func(_ Job, r Result) Status {
			if r.StatusCode >= 200 && r.StatusCode < 300 {
				return Completed
			}
			return Failed
		}
	}
	if o.Events == nil {
		o.Events = func(Kind, Status) string { return "" }
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // not started: nothing runs
	return &Service{store: store, exec: exec, opt: o, log: o.Log, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), sem: make(chan struct{}, o.Workers), running: map[string]*running{}}
}

// NewID returns prefix followed by 48 random hex digits.
func NewID(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Start starts the workers: the jobs an earlier run left unfinished
// resume once their leases run out (at once for this Owner's), and new
// ones run as they are created.
func (s *Service) Start(ctx context.Context) error {
	if err := s.store.ReleaseJobs(ctx, s.opt.Owner); err != nil {
		s.log.Warn("release job leases", "error", err.Error())
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Go(s.loop)
	return nil
}

// Close stops the workers and waits for them. The jobs running stay
// claimed until their leases run out, then run again (here at the next
// Start, or on another replica).
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// Create stores a queued job of kind for the key's tenant, kept until
// retention has passed.
func (s *Service) Create(ctx context.Context, j Job, retention time.Duration) (Job, error) {
	now := time.Now().UTC()
	j.Status, j.CreatedAt, j.ExpiresAt = Queued, now, now.Add(retention)
	if err := s.store.CreateJob(ctx, j); err != nil {
		return Job{}, err
	}
	s.poke()
	return j, nil
}

// Job returns a tenant's job.
func (s *Service) Job(ctx context.Context, tenantID, id string) (Job, error) {
	return s.store.LoadJob(ctx, tenantID, id)
}

// Cancel ends a tenant's job that has not ended as cancelled and stops
// its run; a job that has ended is returned as it is.
func (s *Service) Cancel(ctx context.Context, tenantID, id string) (Job, error) {
	j, err := s.store.LoadJob(ctx, tenantID, id)
	if err != nil || j.Status.Final() {
		return j, err
	}
	now := time.Now().UTC()
	j.Status, j.EndedAt, j.StatusCode = Cancelled, &now, 0
	if _, err := s.store.FinishJob(ctx, j, s.event(j)); err != nil {
		return Job{}, err
	}
	s.mu.Lock()
	if r, ok := s.running[id]; ok {
		r.stop()
	}
	s.mu.Unlock()
	s.ended()
	return s.store.LoadJob(ctx, tenantID, id)
}

// Delete deletes a tenant's job, and returns it as it was deleted. A job
// that has not ended is cancelled first (Cancel: its end and its event
// are recorded once) and its run here has returned before the job is
// deleted, so that nothing the run stores outlives the delete; a run on
// another replica stops at its next lease renewal, and its answer is
// dropped (Options.Dropped).
func (s *Service) Delete(ctx context.Context, tenantID, id string) (Job, error) {
	j, err := s.Cancel(ctx, tenantID, id)
	if err != nil {
		return Job{}, err
	}
	s.mu.Lock()
	r := s.running[id]
	s.mu.Unlock()
	if r != nil {
		select {
		case <-r.done:
		case <-ctx.Done():
			return Job{}, fmt.Errorf("delete job %s: wait for its run to stop: %w", id, ctx.Err())
		}
	}
	if err := s.store.DeleteJob(ctx, tenantID, id); err != nil {
		return Job{}, err
	}
	return j, nil
}

func (s *Service) event(j Job) webhook.Event {
	typ := s.opt.Events(j.Kind, j.Status)
	if typ == "" {
		return webhook.Event{}
	}
	return webhook.NewEvent(typ, j.TenantID, j.ID, time.Now())
}

func (s *Service) ended() {
	if s.opt.Ended != nil {
		s.opt.Ended()
	}
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop claims jobs while there are free workers, at start, every Poll
// and when poked.
func (s *Service) loop() {
	t := time.NewTicker(s.opt.Poll)
	defer t.Stop()
	for {
		s.claim()
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

func (s *Service) claim() {
	for s.ctx.Err() == nil {
		free := cap(s.sem) - len(s.sem)
		if free == 0 {
			return
		}
		jobs, err := s.store.ClaimJobs(s.ctx, s.opt.Owner, s.opt.Lease, free)
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("claim jobs", "error", err.Error())
			}
			return
		}
		for _, j := range jobs {
			s.sem <- struct{}{}
			ctx, stop := context.WithCancel(s.ctx)
			r := &running{stop: stop, done: make(chan struct{})}
			s.mu.Lock()
			s.running[j.ID] = r
			s.mu.Unlock()
			s.wg.Go(func() {
				defer func() {
					stop()
					s.mu.Lock()
					delete(s.running, j.ID)
					s.mu.Unlock()
					close(r.done)
					<-s.sem
					s.poke()
				}()
				if s.stale(ctx, j) {
					return
				}
				if j.Attempts > 1 {
					s.log.Info("resuming job", "job", j.ID, "kind", string(j.Kind), "attempt", j.Attempts)
				}
				s.run(ctx, stop, j)
			})
		}
		if len(jobs) < free {
			return
		}
	}
}

// stale reports whether a job just claimed was cancelled or deleted
// before its run was registered, when Cancel could not stop it: Cancel
// records the end before it looks for the run, and the run is
// registered before this looks at the record.
func (s *Service) stale(ctx context.Context, j Job) bool {
	cur, err := s.store.LoadJob(ctx, j.TenantID, j.ID)
	return errors.Is(err, ErrNotFound) || err == nil && cur.Status.Final()
}

// run runs a job while holding its lease, and stores its end.
func (s *Service) run(ctx context.Context, stop context.CancelFunc, j Job) {
	recorded := false
	defer func() {
		if !recorded {
			s.dropped(j) // cancelled, the lease lost or the service closing
		}
	}()
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	wg.Go(func() { s.holdLease(ctx, stop, j, done) })

	wait, attempt := s.opt.Backoff, 0
	for {
		r := s.exec.Execute(ctx, j)
		if ctx.Err() != nil {
			return
		}
		retry := r.Busy && time.Now().Before(j.CreatedAt.Add(s.opt.Window)) ||
			!r.Busy && (r.StatusCode == 429 || r.StatusCode >= 500) && attempt < s.opt.Retries
		if !retry {
			recorded = s.finish(ctx, j, r)
			return
		}
		if !r.Busy {
			attempt++
		}
		t := time.NewTimer(min(max(wait, r.RetryAfter), time.Minute))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// finish stores a job's end, and reports whether it did.
func (s *Service) finish(ctx context.Context, j Job, r Result) bool {
	now := time.Now().UTC()
	j.Status, j.StatusCode, j.Result, j.EndedAt = s.opt.Outcome(j, r), r.StatusCode, r.Body, &now
	ok, err := s.store.FinishJob(ctx, j, s.event(j))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("store job end", "job", j.ID, "error", err.Error())
		}
		return false // run again when the lease runs out
	}
	if ok {
		s.ended()
	}
	return ok
}

// dropTimeout bounds the look at a dropped run's job and Options.Dropped.
const dropTimeout = 10 * time.Second

// dropped tells Options.Dropped of a run whose end was not recorded when
// that is because its job was cancelled or deleted meanwhile. A run cut
// off by Close, or whose lease another replica took, is not dropped: the
// job runs again, or has ended with that replica's answer.
func (s *Service) dropped(j Job) {
	if s.opt.Dropped == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), dropTimeout)
	defer cancel()
	cur, err := s.store.LoadJob(ctx, j.TenantID, j.ID)
	if errors.Is(err, ErrNotFound) || err == nil && cur.Status == Cancelled {
		s.opt.Dropped(ctx, j)
	}
}

// holdLease renews the lease on j every third of Lease until done; a
// lease lost, or a job ended elsewhere (cancelled by another replica),
// stops the run.
func (s *Service) holdLease(ctx context.Context, stop context.CancelFunc, j Job, done <-chan struct{}) {
	t := time.NewTicker(s.opt.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		held, err := s.store.RenewJob(ctx, j.ID, s.opt.Owner, s.opt.Lease)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				s.log.Warn("renew job lease", "job", j.ID, "error", err.Error())
			}
		case !held:
			stop()
			return
		}
	}
}

// Purge deletes the jobs expired at now.
func (s *Service) Purge(ctx context.Context, now time.Time) (int, error) {
	n, err := s.store.PurgeJobs(ctx, now)
	if err != nil {
		return 0, fmt.Errorf("purge jobs: %w", err)
	}
	return n, nil
}
