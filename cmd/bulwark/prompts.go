package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const promptsUsage = `usage:
  bulwark prompts create [flags] [ID] (--file FILE | --system TEXT --user TEXT ...)
                         [--var NAME | --var NAME=DEFAULT]... [--model ALIAS] [--temperature T]
                         [--max-tokens N] [--note TEXT] [--description TEXT] [--label LABEL]... [--tenant ID]
  bulwark prompts version [flags] ID (--file FILE | --system TEXT --user TEXT ...) [--var ...] [--note TEXT]
  bulwark prompts list [flags] [--tenant ID]
  bulwark prompts show [flags] ID [--version N] [--tenant ID]
  bulwark prompts label [flags] ID LABEL VERSION [--tenant ID]
  bulwark prompts label [flags] ID LABEL --delete [--tenant ID]
  bulwark prompts rollback [flags] ID [--label production] [--to VERSION] [--tenant ID]

A --file holds a version as JSON: {"messages":[{"role":"system","content":"… {{name}} …"}],
"variables":[{"name":"name","required":true}],"params":{"model":"chat","temperature":0.2},"note":"…"};
--file - reads it from stdin. --var NAME declares a required variable, --var NAME=DEFAULT an
optional one.
`

type promptJSON struct {
	ID          string         `json:"id"`
	TenantID    string         `json:"tenant_id"`
	Description string         `json:"description"`
	Latest      int            `json:"latest_version"`
	Labels      map[string]int `json:"labels"`
	CreatedAt   time.Time      `json:"created_at"`
	CreatedBy   string         `json:"created_by"`
}

type promptVersionJSON struct {
	PromptID string `json:"prompt_id"`
	Version  int    `json:"version"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Variables []struct {
		Name     string `json:"name"`
		Required bool   `json:"required"`
		Default  string `json:"default"`
	} `json:"variables"`
	Params    json.RawMessage `json:"params"`
	Note      string          `json:"note"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
}

// labelsText lists labels as "production=3, staging=4".
func labelsText(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return cmp.Or(strings.Join(parts, ", "), "-")
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// versionFlags adds the flags that describe a version and returns a
// function that builds its body.
func versionFlags(fs *flag.FlagSet, stdin io.Reader) func() (map[string]any, error) {
	file := fs.String("file", "", "the version as JSON (- for stdin)")
	var system, user, vars stringList
	fs.Var(&system, "system", "a system message (repeatable)")
	fs.Var(&user, "user", "a user message (repeatable; after the system messages)")
	fs.Var(&vars, "var", "declare a variable: NAME (required) or NAME=DEFAULT (repeatable)")
	model := fs.String("model", "", "model alias")
	temperature := fs.String("temperature", "", "temperature")
	maxTokens := fs.Int("max-tokens", 0, "max_tokens")
	note := fs.String("note", "", "what changed in this version")
	return func() (map[string]any, error) {
		body := map[string]any{}
		if *file != "" {
			var b []byte
			var err error
			if *file == "-" {
				b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
			} else {
				b, err = os.ReadFile(*file)
			}
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(b, &body); err != nil {
				return nil, fmt.Errorf("%s: %w", *file, err)
			}
		}
		var msgs []map[string]string
		for _, s := range system {
			msgs = append(msgs, map[string]string{"role": "system", "content": s})
		}
		for _, s := range user {
			msgs = append(msgs, map[string]string{"role": "user", "content": s})
		}
		if len(msgs) > 0 {
			body["messages"] = msgs
		}
		if len(vars) > 0 {
			var vs []map[string]any
			for _, v := range vars {
				name, def, optional := strings.Cut(v, "=")
				if optional {
					vs = append(vs, map[string]any{"name": name, "default": def})
				} else {
					vs = append(vs, map[string]any{"name": name, "required": true})
				}
			}
			body["variables"] = vs
		}
		params, _ := body["params"].(map[string]any)
		if params == nil {
			params = map[string]any{}
		}
		if *model != "" {
			params["model"] = *model
		}
		if *temperature != "" {
			t, err := strconv.ParseFloat(*temperature, 64)
			if err != nil {
				return nil, fmt.Errorf("--temperature %q is not a number", *temperature)
			}
			params["temperature"] = t
		}
		if *maxTokens > 0 {
			params["max_tokens"] = *maxTokens
		}
		if len(params) > 0 {
			body["params"] = params
		}
		if *note != "" {
			body["note"] = *note
		}
		if body["messages"] == nil {
			return nil, fmt.Errorf("a version needs messages: give --file or --system/--user")
		}
		return body, nil
	}
}

// promptPath is the admin API path of prompt id, with the tenant.
func promptPath(id, tenantID, rest string) string {
	p := "/admin/v1/prompts/" + url.PathEscape(id) + rest
	if tenantID != "" {
		p += "?tenant_id=" + url.QueryEscape(tenantID)
	}
	return p
}

func promptsCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, promptsUsage)
		return errUsage
	}
	fs := newFlagSet("bulwark prompts "+args[0], promptsUsage, stderr)
	client := adminFlags(fs)
	tenantID := fs.String("tenant", "", "the prompt's tenant (default: the admin key's; an operator key finds a prompt of any tenant by its id)")
	usageErr := func() error {
		fmt.Fprint(stderr, promptsUsage)
		return errUsage
	}
	// positional parses the flags and returns the positional arguments,
	// or the usage error when valid rejects their number.
	positional := func(valid func(n int) bool) ([]string, error) {
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return nil, err
		}
		if !valid(len(pos)) {
			return nil, usageErr()
		}
		return pos, nil
	}
	switch args[0] {
	case "create":
		version := versionFlags(fs, stdin)
		description := fs.String("description", "", "what the prompt is for")
		var labels stringList
		fs.Var(&labels, "label", "set a label on version 1, such as production (repeatable)")
		pos, err := positional(func(n int) bool { return n <= 1 })
		if err != nil {
			return err
		}
		body, err := version()
		if err != nil {
			return err
		}
		if len(pos) == 1 {
			body["id"] = pos[0]
		}
		if *tenantID != "" {
			body["tenant_id"] = *tenantID
		}
		if *description != "" {
			body["description"] = *description
		}
		if len(labels) > 0 {
			body["labels"] = labels
		}
		c, err := client()
		if err != nil {
			return err
		}
		var p promptJSON
		if err := c.call(ctx, "POST", "/admin/v1/prompts", body, &p); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created prompt %s (tenant %s), version 1, labels: %s\n", p.ID, p.TenantID, labelsText(p.Labels))
		return nil
	case "version":
		version := versionFlags(fs, stdin)
		pos, err := positional(func(n int) bool { return n == 1 })
		if err != nil {
			return err
		}
		body, err := version()
		if err != nil {
			return err
		}
		c, err := client()
		if err != nil {
			return err
		}
		var v promptVersionJSON
		if err := c.call(ctx, "POST", promptPath(pos[0], *tenantID, "/versions"), body, &v); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created version %d of prompt %s; no label moved (bulwark prompts label %s production %d promotes it)\n",
			v.Version, v.PromptID, v.PromptID, v.Version)
		return nil
	case "list":
		_, err := positional(func(n int) bool { return n == 0 })
		if err != nil {
			return err
		}
		c, err := client()
		if err != nil {
			return err
		}
		path := "/admin/v1/prompts"
		if *tenantID != "" {
			path += "?tenant_id=" + url.QueryEscape(*tenantID)
		}
		var ls struct{ Data []promptJSON }
		if err := c.call(ctx, "GET", path, nil, &ls); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tID\tLATEST\tLABELS\tDESCRIPTION")
		for _, p := range ls.Data {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", p.TenantID, p.ID, p.Latest, labelsText(p.Labels), p.Description)
		}
		return tw.Flush()
	case "show":
		n := fs.Int("version", 0, "the version to show (default: the newest)")
		pos, err := positional(func(n int) bool { return n == 1 })
		if err != nil {
			return err
		}
		c, err := client()
		if err != nil {
			return err
		}
		var p promptJSON
		if err := c.call(ctx, "GET", promptPath(pos[0], *tenantID, ""), nil, &p); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "prompt %s (tenant %s): %s\nlatest version %d, labels: %s\n",
			p.ID, p.TenantID, cmp.Or(p.Description, "-"), p.Latest, labelsText(p.Labels))
		num := cmp.Or(*n, p.Latest)
		var v promptVersionJSON
		if err := c.call(ctx, "GET", promptPath(p.ID, p.TenantID, "/versions/"+strconv.Itoa(num)), nil, &v); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nversion %d, created %s by %s: %s\n", v.Version, v.CreatedAt.Format(time.RFC3339), v.CreatedBy, cmp.Or(v.Note, "-"))
		for _, m := range v.Messages {
			fmt.Fprintf(stdout, "  [%s] %s\n", m.Role, m.Content)
		}
		for _, va := range v.Variables {
			switch {
			case va.Required:
				fmt.Fprintf(stdout, "  variable %s (required)\n", va.Name)
			default:
				fmt.Fprintf(stdout, "  variable %s (default %q)\n", va.Name, va.Default)
			}
		}
		if len(v.Params) > 0 && string(v.Params) != "{}" {
			fmt.Fprintf(stdout, "  params %s\n", v.Params)
		}
		return nil
	case "label":
		del := fs.Bool("delete", false, "remove the label")
		pos, err := positional(func(n int) bool { return *del && n == 2 || !*del && n == 3 })
		if err != nil {
			return err
		}
		c, err := client()
		if err != nil {
			return err
		}
		path := promptPath(pos[0], *tenantID, "/labels/"+url.PathEscape(pos[1]))
		if *del {
			if err := c.call(ctx, "DELETE", path, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "removed label %s of prompt %s\n", pos[1], pos[0])
			return nil
		}
		n, err := strconv.Atoi(pos[2])
		if err != nil {
			return fmt.Errorf("version %q is not a number", pos[2])
		}
		return setLabel(ctx, c, stdout, path, pos[0], pos[1], n)
	case "rollback":
		label := fs.String("label", "production", "the label to move back")
		to := fs.Int("to", 0, "the version to move it to (default: the one before the version it points at)")
		pos, err := positional(func(n int) bool { return n == 1 })
		if err != nil {
			return err
		}
		c, err := client()
		if err != nil {
			return err
		}
		var p promptJSON
		if err := c.call(ctx, "GET", promptPath(pos[0], *tenantID, ""), nil, &p); err != nil {
			return err
		}
		n := *to
		if n == 0 {
			cur, ok := p.Labels[*label]
			if !ok {
				return fmt.Errorf("prompt %s has no label %s", p.ID, *label)
			}
			if cur <= 1 {
				return fmt.Errorf("label %s points at version %d: there is no version before it", *label, cur)
			}
			n = cur - 1
		}
		return setLabel(ctx, c, stdout, promptPath(p.ID, p.TenantID, "/labels/"+url.PathEscape(*label)), p.ID, *label, n)
	}
	return usageErr()
}

func setLabel(ctx context.Context, c *adminClient, stdout io.Writer, path, id, label string, n int) error {
	var out struct {
		Previous int `json:"previous_version"`
	}
	if err := c.call(ctx, "PUT", path, map[string]int{"version": n}, &out); err != nil {
		return err
	}
	prev := "none"
	if out.Previous > 0 {
		prev = strconv.Itoa(out.Previous)
	}
	fmt.Fprintf(stdout, "label %s of prompt %s: version %s -> %d\n", label, id, prev, n)
	return nil
}
