package config

import "slices"

// StreamRecovery is what an alias does when a stream breaks after content
// reached the client. Off (the default), the stream ends with an error
// event. In continue mode, a break of a kind listed in On is handed back
// to the attempt loop, which finishes the answer on a target whose
// provider declares continue_prefix (the same target again, or the next
// one in the usual order), within the request's retry budget, attempts and
// deadline. Streams that carried tool calls, function calls or other
// non-text output, or several choices, are never continued.
type StreamRecovery struct {
	// Mode is off (default) or continue.
	Mode string `yaml:"mode" json:"mode,omitempty"`
	// On lists the breaks that are continued: cut, idle (no event within
	// timeouts.stream_idle), malformed, error_event. Empty means all four.
	On []string `yaml:"on" json:"on,omitempty"`
	// MaxContinuations bounds the continuations of one stream (default 1).
	MaxContinuations int `yaml:"max_continuations" json:"max_continuations,omitempty"`
}

// Stream recovery modes, breaks and prefix continuations.
const (
	RecoveryOff      = "off"
	RecoveryContinue = "continue"

	BreakCut        = "cut"
	BreakIdle       = "idle"
	BreakMalformed  = "malformed"
	BreakErrorEvent = "error_event"

	ContinueVLLM = "vllm"

	DefaultMaxContinuations = 1
)

var (
	recoveryModes = []string{RecoveryOff, RecoveryContinue}
	breaks        = []string{BreakCut, BreakIdle, BreakMalformed, BreakErrorEvent}
	continuations = []string{ContinueVLLM}
)

// Enabled reports whether broken streams are continued.
func (r StreamRecovery) Enabled() bool { return r.Mode == RecoveryContinue }

// Continues reports whether a break of the given name (cut, idle,
// malformed, error_event) is continued.
func (r StreamRecovery) Continues(brk string) bool {
	if !r.Enabled() || brk == "" {
		return false
	}
	return len(r.On) == 0 || slices.Contains(r.On, brk)
}

// Max returns MaxContinuations with its default applied.
func (r StreamRecovery) Max() int {
	if r.MaxContinuations <= 0 {
		return DefaultMaxContinuations
	}
	return r.MaxContinuations
}

// streamRecovery validates the stream recovery of the model at path.
func (v *validator) streamRecovery(path string, r StreamRecovery) {
	v.oneOf(path+".mode", r.Mode, recoveryModes)
	seen := map[string]bool{}
	for i, b := range r.On {
		bp := childIndex(path+".on", i)
		switch {
		case !slices.Contains(breaks, b):
			v.add(bp, "%q is not one of cut, idle, malformed, error_event%s", b, didYouMean(b, breaks))
		case seen[b]:
			v.add(bp, "%q is listed twice", b)
		}
		seen[b] = true
	}
	v.nonNegative(path+".max_continuations", int64(r.MaxContinuations))
	if (r.Mode == "" || r.Mode == RecoveryOff) && (len(r.On) > 0 || r.MaxContinuations != 0) {
		v.add(path+".mode", "on and max_continuations apply only with mode: continue")
	}
}

// continuePrefix validates a provider's continue_prefix.
func (v *validator) continuePrefix(path, s string) {
	v.oneOf(path, s, continuations)
}
