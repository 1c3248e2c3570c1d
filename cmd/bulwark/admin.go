package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulwark-ai/bulwark/config"
	"go.yaml.in/yaml/v3"
)

const tenantsUsage = `usage:
  bulwark tenants create [flags] ID [--name NAME] [--rpm N] [--tpm N] [--concurrent N]
                         [--priority CLASS] [--alias NAME=MODEL]... [--tag KEY=VALUE]... [--tools a,b*]
  bulwark tenants update [flags] ID [--priority CLASS] [--alias NAME=MODEL]... [--tag KEY=VALUE]... [--tools a,b*]
  bulwark tenants list [flags]
  bulwark tenants budget [flags] ID [--usd AMOUNT --period day|month [--hard] | --delete]
`

const keysUsage = `usage:
  bulwark keys create [flags] --tenant ID [--name NAME] [--admin] [--models a,b]
                      [--expires-in 720h] [--rpm N] [--tpm N] [--concurrent N]
                      [--priority CLASS] [--alias NAME=MODEL]... [--tag KEY=VALUE]... [--tools a,b*]
  bulwark keys update [flags] KEY_ID [--priority CLASS] [--alias NAME=MODEL]... [--tag KEY=VALUE]... [--tools a,b*]
  bulwark keys list [flags] [--tenant ID] [--quiet]
  bulwark keys revoke [flags] KEY_ID
  bulwark keys rotate [flags] KEY_ID
  bulwark keys budget [flags] KEY_ID [--usd AMOUNT --period day|month [--hard] | --delete]
`

// adminClient talks to a running Bulwark's admin API.
type adminClient struct {
	url string
	key string
	hc  *http.Client
}

// adminFlags adds the flags every tenants and keys command takes, and
// returns a function that builds the client once they are parsed.
//
// The server is --url, else $BULWARK_URL, else the listen address of the
// --config file the server runs with, else the default; its admin key
// --key, else $BULWARK_ADMIN_KEY, else the admin.key file of --data-dir,
// else of the config file's data_dir, else of ./bulwark-data. So a command
// run with the server's own --config needs nothing else.
func adminFlags(fs *flag.FlagSet) func() (*adminClient, error) {
	u := fs.String("url", "http://"+config.DefaultListen, "the Bulwark to talk to (default: $BULWARK_URL, else --config's listen, else http://"+config.DefaultListen+")")
	key := fs.String("key", "", "admin key (default $BULWARK_ADMIN_KEY, else the admin.key file in the data directory)")
	dataDir := fs.String("data-dir", config.DefaultDataDir, "data directory holding admin.key (default: --config's data_dir, else "+config.DefaultDataDir+")")
	cfgPath := fs.String("config", "", "the server's config file, for its listen address and data directory")
	return func() (*adminClient, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		base, dir := *u, *dataDir
		var listen, cfgDir string
		if *cfgPath != "" {
			var err error
			if listen, cfgDir, err = serverPlace(*cfgPath); err != nil {
				return nil, err
			}
		}
		switch {
		case set["url"]:
		case os.Getenv("BULWARK_URL") != "":
			base = os.Getenv("BULWARK_URL")
		case listen != "":
			base = "http://" + dialable(listen)
		}
		if !set["data-dir"] && cfgDir != "" {
			dir = cfgDir
		}
		k := *key
		if k == "" {
			k = os.Getenv("BULWARK_ADMIN_KEY")
		}
		if k == "" {
			b, err := os.ReadFile(filepath.Join(dir, "admin.key"))
			if err != nil {
				return nil, fmt.Errorf("no admin key: give --key, set BULWARK_ADMIN_KEY or run where %s is readable (or give --data-dir or --config)", filepath.Join(dir, "admin.key"))
			}
			k = strings.TrimSpace(string(b))
		}
		return &adminClient{url: strings.TrimSuffix(base, "/"), key: k, hc: &http.Client{Timeout: 30 * time.Second}}, nil
	}
}

// serverPlace reads the listen address and data directory of a config
// file, without validating the rest of it: the command talks to the
// server, which has validated it.
func serverPlace(path string) (listen, dataDir string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("read --config: %w", err)
	}
	var c struct {
		Listen  string `yaml:"listen"`
		DataDir string `yaml:"data_dir"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return "", "", fmt.Errorf("read --config %s: %w", path, err)
	}
	return c.Listen, c.DataDir, nil
}

// dialable is a listen address a client can dial: a wildcard or empty
// host is this machine.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// call sends a request to the admin API and decodes a 2xx answer into
// out. An error answer becomes an error carrying its message.
func (c *adminClient) call(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Error.Message)
		}
		return fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// limitsJSON is the limits object of the admin API.
type limitsJSON struct {
	RequestsPerMinute int `json:"requests_per_minute,omitempty"`
	TokensPerMinute   int `json:"tokens_per_minute,omitempty"`
	Concurrent        int `json:"concurrent,omitempty"`
}

func limitFlags(fs *flag.FlagSet) *limitsJSON {
	l := &limitsJSON{}
	fs.IntVar(&l.RequestsPerMinute, "rpm", 0, "requests per minute (0: no limit)")
	fs.IntVar(&l.TokensPerMinute, "tpm", 0, "tokens per minute (0: no limit)")
	fs.IntVar(&l.Concurrent, "concurrent", 0, "requests in flight at once (0: no limit)")
	return l
}

func (l limitsJSON) String() string {
	var parts []string
	if l.RequestsPerMinute > 0 {
		parts = append(parts, fmt.Sprintf("%d rpm", l.RequestsPerMinute))
	}
	if l.TokensPerMinute > 0 {
		parts = append(parts, fmt.Sprintf("%d tpm", l.TokensPerMinute))
	}
	if l.Concurrent > 0 {
		parts = append(parts, fmt.Sprintf("%d concurrent", l.Concurrent))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// pairs is a repeatable NAME=VALUE flag.
type pairs map[string]string

func (p pairs) String() string { return p.sorted() }

// sorted lists the pairs as NAME=VALUE, by name.
func (p pairs) sorted() string {
	parts := make([]string, 0, len(p))
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, ", ")
}

func (p pairs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	p[k] = v
	return nil
}

// attributeFlags adds --priority, --alias, --tag and --tools, and returns
// a function that adds what was given to a request body. Given to update,
// --alias, --tag and --tools replace the stored aliases, tags or tool
// allowlist whole (--tools "" clears it).
func attributeFlags(fs *flag.FlagSet) func(req map[string]any) {
	priority := fs.String("priority", "", "priority class: critical, interactive or batch")
	aliases, tags := pairs{}, pairs{}
	fs.Var(aliases, "alias", "route a model name to a configured alias, as NAME=MODEL (repeatable)")
	fs.Var(tags, "tag", "a tag, as KEY=VALUE (repeatable)")
	tools := fs.String("tools", "", "comma-separated tool names or globs the requests may use (default: all)")
	return func(req map[string]any) {
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "priority":
				req["priority"] = *priority
			case "alias":
				req["aliases"] = map[string]string(aliases)
			case "tag":
				req["tags"] = map[string]string(tags)
			case "tools":
				req["tools"] = splitList(*tools)
			}
		})
	}
}

type tenantJSON struct {
	ID     string     `json:"id"`
	Name   string     `json:"name"`
	Limits limitsJSON `json:"limits"`
	attributesJSON
	CreatedAt time.Time `json:"created_at"`
}

// attributesJSON are a tenant's or key's attributes in the admin API.
type attributesJSON struct {
	Aliases  map[string]string `json:"aliases"`
	Priority string            `json:"priority"`
	Tags     map[string]string `json:"tags"`
	Tools    []string          `json:"tools"`
}

// splitList splits a comma-separated list, dropping empty items; "" is
// an empty list.
func splitList(s string) []string {
	out := []string{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// attributes describes the attributes in one line.
func (a attributesJSON) attributes() string {
	return fmt.Sprintf("priority %s, aliases {%s}, tags {%s}, tools [%s]",
		cmp.Or(a.Priority, "-"), pairs(a.Aliases).sorted(), pairs(a.Tags).sorted(), strings.Join(a.Tools, ","))
}

type keyJSON struct {
	ID       string     `json:"id"`
	TenantID string     `json:"tenant_id"`
	Name     string     `json:"name"`
	Prefix   string     `json:"prefix"`
	Admin    bool       `json:"admin"`
	Models   []string   `json:"models"`
	Limits   limitsJSON `json:"limits"`
	attributesJSON
	Status    string     `json:"status"`
	Secret    string     `json:"secret"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// parseArgs parses flags that may come before and after positional
// arguments, and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func tenantsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tenantsUsage)
		return errUsage
	}
	fs := newFlagSet("bulwark tenants "+args[0], tenantsUsage, stderr)
	client := adminFlags(fs)
	switch args[0] {
	case "create":
		name := fs.String("name", "", "display name (default: the ID)")
		limits := limitFlags(fs)
		attrs := attributeFlags(fs)
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			fmt.Fprint(stderr, tenantsUsage)
			return errUsage
		}
		c, err := client()
		if err != nil {
			return err
		}
		var t tenantJSON
		req := map[string]any{"id": pos[0], "name": *name, "limits": limits}
		attrs(req)
		if err := c.call(ctx, "POST", "/admin/v1/tenants", req, &t); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created tenant %s (%s), limits: %s\n", t.ID, t.Name, t.Limits)
		return nil
	case "update":
		return updateCmd(ctx, fs, client, args[1:], "/admin/v1/tenants/", "tenant", tenantsUsage, stdout, stderr)
	case "budget":
		return budgetCmd(ctx, fs, client, args[1:], "/admin/v1/tenants/", tenantsUsage, stdout, stderr)
	case "list":
		if _, err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		c, err := client()
		if err != nil {
			return err
		}
		var list struct{ Data []tenantJSON }
		if err := c.call(ctx, "GET", "/admin/v1/tenants", nil, &list); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tLIMITS\tCREATED")
		for _, t := range list.Data {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Limits, t.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	}
	fmt.Fprint(stderr, tenantsUsage)
	return errUsage
}

func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return errUsage
	}
	fs := newFlagSet("bulwark keys "+args[0], keysUsage, stderr)
	client := adminFlags(fs)
	switch args[0] {
	case "create":
		tenantID := fs.String("tenant", "", "the key's tenant (required)")
		name := fs.String("name", "", "a name to recognise the key by")
		admin := fs.Bool("admin", false, "the key may call the admin API")
		models := fs.String("models", "", "comma-separated model aliases the key may call (default: all)")
		expiresIn := fs.String("expires-in", "", "lifetime, such as 720h (default: never expires)")
		limits := limitFlags(fs)
		attrs := attributeFlags(fs)
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 0 || *tenantID == "" {
			fmt.Fprint(stderr, keysUsage)
			return errUsage
		}
		c, err := client()
		if err != nil {
			return err
		}
		req := map[string]any{"tenant_id": *tenantID, "name": *name, "admin": *admin, "limits": limits}
		if *models != "" {
			req["models"] = strings.Split(*models, ",")
		}
		if *expiresIn != "" {
			req["expires_in"] = *expiresIn
		}
		attrs(req)
		var k keyJSON
		if err := c.call(ctx, "POST", "/admin/v1/keys", req, &k); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created key %s in tenant %s; its secret is shown once:\n", k.ID, k.TenantID)
		fmt.Fprintln(stdout, k.Secret)
		return nil
	case "list":
		tenantID := fs.String("tenant", "", "list only this tenant's keys")
		quiet := fs.Bool("quiet", false, "print only the keys' ids, one a line (for scripts)")
		if _, err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		c, err := client()
		if err != nil {
			return err
		}
		path := "/admin/v1/keys"
		if *tenantID != "" {
			path += "?tenant_id=" + url.QueryEscape(*tenantID)
		}
		var list struct{ Data []keyJSON }
		if err := c.call(ctx, "GET", path, nil, &list); err != nil {
			return err
		}
		if *quiet {
			for _, k := range list.Data {
				fmt.Fprintln(stdout, k.ID)
			}
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTENANT\tNAME\tPREFIX\tSTATUS\tADMIN\tMODELS\tLIMITS")
		for _, k := range list.Data {
			models := "*"
			if len(k.Models) > 0 {
				models = strings.Join(k.Models, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\t%s\t%v\t%s\t%s\n", k.ID, k.TenantID, k.Name, k.Prefix, k.Status, k.Admin, models, k.Limits)
		}
		return tw.Flush()
	case "update":
		return updateCmd(ctx, fs, client, args[1:], "/admin/v1/keys/", "key", keysUsage, stdout, stderr)
	case "budget":
		return budgetCmd(ctx, fs, client, args[1:], "/admin/v1/keys/", keysUsage, stdout, stderr)
	case "rotate":
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			fmt.Fprint(stderr, keysUsage)
			return errUsage
		}
		c, err := client()
		if err != nil {
			return err
		}
		var k keyJSON
		if err := c.call(ctx, "POST", "/admin/v1/keys/"+url.PathEscape(pos[0])+"/rotate", nil, &k); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %s is revoked; its replacement %s has the secret, shown once:\n", pos[0], k.ID)
		fmt.Fprintln(stdout, k.Secret)
		return nil
	case "revoke":
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			fmt.Fprint(stderr, keysUsage)
			return errUsage
		}
		c, err := client()
		if err != nil {
			return err
		}
		if err := c.call(ctx, "POST", "/admin/v1/keys/"+url.PathEscape(pos[0])+"/revoke", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked key %s\n", pos[0])
		return nil
	}
	fmt.Fprint(stderr, keysUsage)
	return errUsage
}

// errUsage is a command line that does not parse; its usage was printed.
var errUsage = errors.New("invalid arguments")

// budgetJSON is a budget as the admin API answers it.
type budgetJSON struct {
	Scope       string   `json:"scope"`
	ID          string   `json:"id"`
	Period      string   `json:"period"`
	AmountUSD   float64  `json:"amount_usd"`
	Hard        bool     `json:"hard"`
	SpentUSD    *float64 `json:"spent_usd"`
	ReservedUSD *float64 `json:"reserved_usd"`
}

func (b budgetJSON) String() string {
	mode := "soft"
	if b.Hard {
		mode = "hard"
	}
	s := fmt.Sprintf("%s %s: $%.2f per %s (%s)", b.Scope, b.ID, b.AmountUSD, b.Period, mode)
	if b.SpentUSD != nil && b.ReservedUSD != nil {
		s += fmt.Sprintf(", $%.6f spent and $%.6f reserved this %s", *b.SpentUSD, *b.ReservedUSD, b.Period)
	}
	return s
}

// budgetCmd shows, sets or removes the budget of the tenant or key under
// updateCmd is "tenants update" and "keys update": it PATCHes the
// attributes given as flags to path+ID and prints what the object holds.
func updateCmd(ctx context.Context, fs *flag.FlagSet, client func() (*adminClient, error), args []string, path, what, usage string, stdout, stderr io.Writer) error {
	attrs := attributeFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	req := map[string]any{}
	attrs(req)
	if len(pos) != 1 || len(req) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	c, err := client()
	if err != nil {
		return err
	}
	var out struct {
		ID string `json:"id"`
		attributesJSON
	}
	if err := c.call(ctx, "PATCH", path+url.PathEscape(pos[0]), req, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "updated %s %s: %s\n", what, out.ID, out.attributes())
	return nil
}

// path (the admin API's "/admin/v1/tenants/" or "/admin/v1/keys/").
func budgetCmd(ctx context.Context, fs *flag.FlagSet, client func() (*adminClient, error), args []string, path, usage string, stdout, stderr io.Writer) error {
	usd := fs.Float64("usd", -1, "the budget in US dollars per period (required unless --delete)")
	period := fs.String("period", "", "day or month (UTC calendar periods)")
	hard := fs.Bool("hard", false, "refuse requests over the budget (default: serve them and warn)")
	del := fs.Bool("delete", false, "remove the budget")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	set := *usd >= 0 || *period != "" || *hard
	if len(pos) != 1 || (set && *del) || (set && (*usd < 0 || *period == "")) {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	c, err := client()
	if err != nil {
		return err
	}
	p := path + url.PathEscape(pos[0]) + "/budget"
	var b budgetJSON
	switch {
	case *del:
		if err := c.call(ctx, "DELETE", p, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed the budget of %s\n", pos[0])
		return nil
	case set:
		err = c.call(ctx, "PUT", p, map[string]any{"amount_usd": *usd, "period": *period, "hard": *hard}, &b)
	default:
		err = c.call(ctx, "GET", p, nil, &b)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, b)
	return nil
}
