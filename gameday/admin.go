package gameday

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-ai/bulwark/config"
)

// admin talks to the deployment's admin API and metrics.
type admin struct {
	url string
	key string
	hc  *http.Client
}

// adminTimeout bounds one call to the admin API or /metrics.
const adminTimeout = 30 * time.Second

// errStatus is an admin API answer that was not a success.
type errStatus struct {
	status int
	msg    string
}

func (e *errStatus) Error() string { return fmt.Sprintf("%d: %s", e.status, e.msg) }

// call sends a request to the admin API and decodes a 2xx answer into out.
func (a *admin) call(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return fmt.Errorf("%s %s: %w", method, path, &errStatus{resp.StatusCode, e.Error.Message})
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

func faultsPath(t Target) string {
	return "/admin/v1/providers/" + t.Provider + "/models/" + t.Model + "/faults"
}

// faults returns a target's faults.
func (a *admin) faults(ctx context.Context, t Target) (config.Faults, error) {
	var f config.Faults
	err := a.call(ctx, http.MethodGet, faultsPath(t), nil, &f)
	return f, err
}

// setFaults replaces a target's faults.
func (a *admin) setFaults(ctx context.Context, t Target, f config.Faults) error {
	return a.call(ctx, http.MethodPut, faultsPath(t), f, nil)
}

// ensureTenant creates the tenant unless it exists.
func (a *admin) ensureTenant(ctx context.Context, id string) error {
	err := a.call(ctx, http.MethodGet, "/admin/v1/tenants/"+id, nil, nil)
	if es := (*errStatus)(nil); errors.As(err, &es) && es.status == http.StatusNotFound {
		err = a.call(ctx, http.MethodPost, "/admin/v1/tenants", map[string]any{"id": id, "name": "bulwark gameday drills"}, nil)
	}
	return err
}

// key is a key a drill created.
type key struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// createKey creates a key of tenant with the given limits (nil: none).
func (a *admin) createKey(ctx context.Context, tenant, name string, limits map[string]int) (key, error) {
	var k key
	body := map[string]any{"tenant_id": tenant, "name": name}
	if limits != nil {
		body["limits"] = limits
	}
	err := a.call(ctx, http.MethodPost, "/admin/v1/keys", body, &k)
	return k, err
}

// revokeKey revokes a key.
func (a *admin) revokeKey(ctx context.Context, id string) error {
	return a.call(ctx, http.MethodPost, "/admin/v1/keys/"+id+"/revoke", nil, nil)
}

// budget is a key's budget as the admin API shows it.
type budget struct {
	AmountNanodollars int64  `json:"amount_nanodollars"`
	SpentNanodollars  *int64 `json:"spent_nanodollars"`
	Reserved          *int64 `json:"reserved_nanodollars"`
}

func (a *admin) setKeyBudget(ctx context.Context, id string, usd float64) error {
	return a.call(ctx, http.MethodPut, "/admin/v1/keys/"+id+"/budget", map[string]any{"amount_usd": usd, "period": "day", "hard": true}, nil)
}

func (a *admin) keyBudget(ctx context.Context, id string) (budget, error) {
	var b budget
	err := a.call(ctx, http.MethodGet, "/admin/v1/keys/"+id+"/budget", nil, &b)
	return b, err
}

// metrics is a scrape of /metrics: each series' value by its name and
// labels as written ("bulwark_shed_total{class=\"batch\",…}").
type metrics map[string]float64

// scrape reads the deployment's /metrics.
func (a *admin) scrape(ctx context.Context) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// sum adds the series of name whose labels include every one of match
// (`class="batch"`).
func (m metrics) sum(name string, match ...string) float64 {
	total := 0.0
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, name)
		if !ok || (rest != "" && rest[0] != '{') {
			continue
		}
		all := true
		for _, l := range match {
			all = all && strings.Contains(rest, l)
		}
		if all {
			total += v
		}
	}
	return total
}

// has reports whether a series of name with the labels in match exists.
func (m metrics) has(name string, match ...string) bool {
	for k := range m {
		rest, ok := strings.CutPrefix(k, name)
		if !ok || (rest != "" && rest[0] != '{') {
			continue
		}
		all := true
		for _, l := range match {
			all = all && strings.Contains(rest, l)
		}
		if all {
			return true
		}
	}
	return false
}
