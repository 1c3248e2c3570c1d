package gameday

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bulwark-ai/bulwark/config"
)

// DefaultThresholds is the thresholds file built into the binary: the
// drills against examples/gameday.yaml and what each must achieve.
//
//go:embed thresholds.yaml
var DefaultThresholds []byte

// Thresholds is a thresholds file: what the drills aim at, how long each
// runs and what it must achieve to pass.
type Thresholds struct {
	Deployment Deployment           `yaml:"deployment"`
	Recovery   Recovery             `yaml:"recovery"`
	Drills     map[string]DrillSpec `yaml:"drills"`
}

// Deployment is what the drills aim at.
type Deployment struct {
	Alias          string          `yaml:"alias"`
	Primary        Target          `yaml:"primary"`
	Secondary      Target          `yaml:"secondary"`
	CapacityRPS    float64         `yaml:"capacity_rps"`
	Tenant         string          `yaml:"tenant"`
	RequestTimeout config.Duration `yaml:"request_timeout"`
}

// Target is a simulated provider's model, whose faults a drill sets.
type Target struct {
	Provider string `yaml:"provider"`
	Model    string `yaml:"model"`
}

func (t Target) String() string { return t.Provider + "/" + t.Model }

// Recovery defines when a drill has recovered from its fault.
type Recovery struct {
	Window      config.Duration `yaml:"window"`
	RecoveredAt float64         `yaml:"recovered_at"`
}

// DrillSpec is one drill's traffic and pass criteria.
type DrillSpec struct {
	// Rate is the requests a second sent before, during and after the
	// fault (the traffic spike's rate during the spike).
	Rate float64 `yaml:"rate"`
	// Before, Fault and After are the phases' lengths.
	Before config.Duration `yaml:"before"`
	Fault  config.Duration `yaml:"fault"`
	After  config.Duration `yaml:"after"`
	// StreamShare is the share of requests that stream.
	StreamShare float64 `yaml:"stream_share"`
	// Mix is the share of requests of each priority class (default: all
	// interactive).
	Mix map[string]float64 `yaml:"mix"`
	// RetryAfter is the rate-limit storm's Retry-After.
	RetryAfter config.Duration `yaml:"retry_after"`
	// RPM, BudgetUSD and BudgetRequests are the limits drill's.
	RPM            int     `yaml:"rpm"`
	BudgetUSD      float64 `yaml:"budget_usd"`
	BudgetRequests int     `yaml:"budget_requests"`
	Pass           Pass    `yaml:"pass"`
}

// Pass is what a drill must achieve; an unset criterion is not checked.
type Pass struct {
	// MinSuccess is the least share of requests served over the drill.
	MinSuccess *float64 `yaml:"min_success"`
	// MaxP99 bounds the 99th percentile latency of the requests served.
	MaxP99 *config.Duration `yaml:"max_p99"`
	// MaxRecovery bounds the time from clearing the fault to recovery.
	MaxRecovery *config.Duration `yaml:"max_recovery"`
	// MaxTruncated bounds the streams that ended without [DONE] and
	// without an error event: silent truncations.
	MaxTruncated *int `yaml:"max_truncated"`
	// MinClassSuccess is the least share served of each priority class.
	MinClassSuccess map[string]float64 `yaml:"min_class_success"`
	// ShedOrder asks that a lower class is shed at least as often as a
	// higher one.
	ShedOrder bool `yaml:"shed_order"`
	// MaxLimitError bounds |accepted − limit| / limit of a key's
	// requests_per_minute.
	MaxLimitError *float64 `yaml:"max_limit_error"`
	// MaxBudgetOvershoot bounds (spent − budget) / budget of a hard budget.
	MaxBudgetOvershoot *float64 `yaml:"max_budget_overshoot"`
}

// Classes are the priority classes, most important first.
var Classes = []string{"critical", "interactive", "batch"}

// ParseThresholds reads a thresholds file over the defaults: a drill or
// field it leaves out keeps its default. Unknown fields are errors.
func ParseThresholds(b []byte) (*Thresholds, error) {
	t, err := decode(DefaultThresholds, nil)
	if err != nil {
		return nil, fmt.Errorf("built-in thresholds: %w", err)
	}
	if b != nil {
		if t, err = decode(b, t); err != nil {
			return nil, err
		}
	}
	return t, t.validate()
}

// LoadThresholds reads the thresholds file at path ("" for the defaults).
func LoadThresholds(path string) (*Thresholds, error) {
	if path == "" {
		return ParseThresholds(nil)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read thresholds: %w", err)
	}
	t, err := ParseThresholds(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// decode reads b over base (nil: over nothing). Decoding into the filled
// struct keeps what the file leaves out, and each drill the file names is
// decoded over that drill's default rather than over a zero one.
func decode(b []byte, base *Thresholds) (*Thresholds, error) {
	t := base
	if t == nil {
		t = &Thresholds{}
	}
	var f struct {
		Deployment yaml.Node            `yaml:"deployment"`
		Recovery   yaml.Node            `yaml:"recovery"`
		Drills     map[string]yaml.Node `yaml:"drills"`
	}
	if err := strict(b, &f); err != nil {
		return nil, err
	}
	if err := strictNode(&f.Deployment, &t.Deployment); err != nil {
		return nil, fmt.Errorf("deployment: %w", err)
	}
	if err := strictNode(&f.Recovery, &t.Recovery); err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	if t.Drills == nil {
		t.Drills = map[string]DrillSpec{}
	}
	for name, n := range f.Drills {
		s := t.Drills[name]
		if err := strictNode(&n, &s); err != nil {
			return nil, fmt.Errorf("drills.%s: %w", name, err)
		}
		t.Drills[name] = s
	}
	return t, nil
}

// strict decodes YAML, refusing unknown fields.
func strict(b []byte, v any) error {
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// strictNode decodes a node strictly (a node's own Decode would accept
// unknown fields); a missing node leaves v as it is.
func strictNode(n *yaml.Node, v any) error {
	if n.Kind == 0 {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	return strict(b, v)
}

func (t *Thresholds) validate() error {
	var errs []string
	add := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	if t.Deployment.Alias == "" {
		add("deployment.alias: required")
	}
	if t.Deployment.CapacityRPS <= 0 {
		add("deployment.capacity_rps: must be positive")
	}
	if t.Recovery.Window <= 0 {
		add("recovery.window: must be positive")
	}
	if !(t.Recovery.RecoveredAt > 0 && t.Recovery.RecoveredAt <= 1) {
		add("recovery.recovered_at: a share from 0 to 1")
	}
	for _, name := range slices.Sorted(maps.Keys(t.Drills)) {
		if !slices.Contains(DrillNames, name) {
			add("drills.%s: no such drill (there are %v)", name, DrillNames)
			continue
		}
		s := t.Drills[name]
		if name != "limits" && s.Rate <= 0 {
			add("drills.%s.rate: must be positive", name)
		}
		if !(s.StreamShare >= 0 && s.StreamShare <= 1) {
			add("drills.%s.stream_share: a share from 0 to 1", name)
		}
		for c, v := range s.Mix {
			if !slices.Contains(Classes, c) || !(v >= 0) {
				add("drills.%s.mix.%s: a class of %v with a share from 0 to 1", name, c, Classes)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid thresholds:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// scaled returns d times scale, at least a tenth of a second.
func scaled(d config.Duration, scale float64) time.Duration {
	return max(time.Duration(float64(d)*scale), 100*time.Millisecond)
}
