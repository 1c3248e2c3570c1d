package prompt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors of a Store.
var (
	ErrNotFound = errors.New("prompt not found")
	ErrExists   = errors.New("prompt already exists")
)

// Latest is the reference to a prompt's newest version. It is not a
// label and cannot be set.
const Latest = "latest"

// DefaultLabel is the label a reference without a version or label
// resolves: production if the prompt has it, else its newest version.
const DefaultLabel = "production"

// Limits on what a prompt may hold.
const (
	MaxMessages     = 64
	MaxVariables    = 64
	MaxTemplateSize = 256 << 10 // bytes of message text, all messages together
	MaxValueSize    = 256 << 10 // bytes of one variable's value
	maxTextLen      = 1000      // description, note, a variable's description
)

var (
	idPattern       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	labelPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,31}$`)
	variablePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	// placeholder matches {{name}}, with optional spaces inside the
	// braces. Text like {{ not a name }} is not a placeholder and is
	// left as written.
	placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
)

// Prompt is a prompt's head: what is true of all its versions.
type Prompt struct {
	TenantID    string `json:"tenant_id"`
	ID          string `json:"id"`
	Description string `json:"description"`
	// Latest is the number of the newest version.
	Latest int `json:"latest_version"`
	// Labels maps each label to the version it points at; nil when there
	// are none.
	Labels    map[string]int `json:"labels"`
	CreatedAt time.Time      `json:"created_at"`
	// CreatedBy is the id of the admin key that created the prompt.
	CreatedBy string `json:"created_by"`
}

// Clone returns a copy of p that shares no map with it.
func (p Prompt) Clone() Prompt {
	if p.Labels != nil {
		m := make(map[string]int, len(p.Labels))
		for k, v := range p.Labels {
			m[k] = v
		}
		p.Labels = m
	}
	return p
}

// Message is one templated chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Variable is a declared template variable. A required variable must be
// given by every request; an optional one takes Default when it is not.
type Variable struct {
	Name        string `json:"name"`
	Required    bool   `json:"required,omitempty"`
	Default     string `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

// Params are the model parameters of a version. Each applies to a
// request that did not set it itself; nil or empty fields set nothing.
type Params struct {
	// Model is the model alias to call.
	Model       string   `json:"model,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	MaxTokens   *int     `json:"max_tokens,omitempty"`
	// ResponseFormat is OpenAI's response_format object, as given.
	ResponseFormat json.RawMessage `json:"response_format,omitempty"`
}

// Template is what a version holds: the messages, the variables they use
// and the model parameters.
type Template struct {
	Messages  []Message  `json:"messages"`
	Variables []Variable `json:"variables"`
	Params    Params     `json:"params"`
}

// Version is one immutable version of a prompt.
type Version struct {
	TenantID string `json:"tenant_id"`
	PromptID string `json:"prompt_id"`
	Number   int    `json:"version"`
	Template
	Note      string    `json:"note"`
	CreatedAt time.Time `json:"created_at"`
	// CreatedBy is the id of the admin key that created the version.
	CreatedBy string `json:"created_by"`
}

// Store keeps prompts. Implementations are safe for concurrent use.
type Store interface {
	// CreatePrompt stores p with v as its version 1 (v.Number is set to
	// 1, p.Latest to 1, p.Labels ignored), in one transaction. It fails
	// with ErrExists if the tenant has a prompt with p.ID and with
	// ErrNotFound if the tenant does not exist.
	CreatePrompt(ctx context.Context, p Prompt, v Version) error
	// AddPromptVersion stores v as the next version of its prompt and
	// returns its number, or fails with ErrNotFound.
	AddPromptVersion(ctx context.Context, v Version) (int, error)
	// Prompt returns one prompt with its labels, or ErrNotFound.
	Prompt(ctx context.Context, tenantID, id string) (Prompt, error)
	// Prompts lists the prompts of a tenant ("" for every tenant's) with
	// their labels, by tenant and id.
	Prompts(ctx context.Context, tenantID string) ([]Prompt, error)
	// PromptVersion returns version n of a prompt, or ErrNotFound.
	PromptVersion(ctx context.Context, tenantID, id string, n int) (Version, error)
	// PromptVersions lists the versions of a prompt ("" for every
	// prompt's of every tenant), by tenant, prompt and number.
	PromptVersions(ctx context.Context, tenantID, id string) ([]Version, error)
	// SetPromptLabel points label at version n of a prompt and returns
	// the version it pointed at before (0: none). It fails with
	// ErrNotFound if the prompt or the version does not exist.
	SetPromptLabel(ctx context.Context, tenantID, id, label string, n int) (int, error)
	// DeletePromptLabel removes a label and returns the version it
	// pointed at, or fails with ErrNotFound.
	DeletePromptLabel(ctx context.Context, tenantID, id, label string) (int, error)
}

// CheckID returns an error if id cannot name a prompt.
func CheckID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("prompt id %q is invalid: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit", id)
	}
	return nil
}

// CheckLabel returns an error if label cannot be set.
func CheckLabel(label string) error {
	if label == Latest {
		return fmt.Errorf("%q always means the newest version and cannot be set", Latest)
	}
	if !labelPattern.MatchString(label) {
		return fmt.Errorf("label %q is invalid: use 1 to 32 lowercase letters, digits, '_', '.' or '-', starting with a letter or digit", label)
	}
	return nil
}

// FieldError is a problem with one field of a template.
type FieldError struct {
	Field string // such as "messages[1].content"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

var templateRoles = []string{"system", "developer", "user", "assistant"}

// Check validates t: at least one message of a known role, variables
// well named and declared once, every placeholder declared, parameters in
// range. Its error is a *FieldError.
func (t Template) Check() error {
	if len(t.Messages) == 0 {
		return fieldErr("messages", "a prompt needs at least one message")
	}
	if len(t.Messages) > MaxMessages {
		return fieldErr("messages", "a prompt may hold at most %d messages, not %d", MaxMessages, len(t.Messages))
	}
	if len(t.Variables) > MaxVariables {
		return fieldErr("variables", "a prompt may declare at most %d variables, not %d", MaxVariables, len(t.Variables))
	}
	declared := make(map[string]bool, len(t.Variables))
	for i, v := range t.Variables {
		f := fmt.Sprintf("variables[%d]", i)
		if !variablePattern.MatchString(v.Name) {
			return fieldErr(f+".name", "variable name %q is invalid: use letters, digits and '_', starting with a letter or '_'", v.Name)
		}
		if declared[v.Name] {
			return fieldErr(f+".name", "variable %q is declared twice", v.Name)
		}
		declared[v.Name] = true
		if v.Required && v.Default != "" {
			return fieldErr(f+".default", "required variable %q cannot have a default", v.Name)
		}
		if len(v.Default) > MaxValueSize || !utf8.ValidString(v.Default) {
			return fieldErr(f+".default", "the default of %q must be valid UTF-8 of at most %d bytes", v.Name, MaxValueSize)
		}
		if err := checkText(f+".description", v.Description); err != nil {
			return err
		}
	}
	size := 0
	for i, m := range t.Messages {
		f := fmt.Sprintf("messages[%d]", i)
		if !slices.Contains(templateRoles, m.Role) {
			return fieldErr(f+".role", "role %q is not one of %s", m.Role, strings.Join(templateRoles, ", "))
		}
		if m.Content == "" {
			return fieldErr(f+".content", "content is required")
		}
		if !utf8.ValidString(m.Content) {
			return fieldErr(f+".content", "content is not valid UTF-8")
		}
		size += len(m.Content)
		for _, sm := range placeholder.FindAllStringSubmatch(m.Content, -1) {
			if !declared[sm[1]] {
				return fieldErr(f+".content", "placeholder {{%s}} is not a declared variable; declare it in variables", sm[1])
			}
		}
	}
	if size > MaxTemplateSize {
		return fieldErr("messages", "the messages hold %d bytes; at most %d are allowed", size, MaxTemplateSize)
	}
	return t.Params.check()
}

func (p Params) check() error {
	if len(p.Model) > 256 || !utf8.ValidString(p.Model) {
		return fieldErr("params.model", "model must be valid UTF-8 of at most 256 bytes")
	}
	if p.Temperature != nil && (*p.Temperature < 0 || *p.Temperature > 2) {
		return fieldErr("params.temperature", "temperature must be between 0 and 2, got %g", *p.Temperature)
	}
	if p.TopP != nil && (*p.TopP < 0 || *p.TopP > 1) {
		return fieldErr("params.top_p", "top_p must be between 0 and 1, got %g", *p.TopP)
	}
	if p.MaxTokens != nil && (*p.MaxTokens < 1 || *p.MaxTokens > 1<<24) {
		return fieldErr("params.max_tokens", "max_tokens must be between 1 and %d, got %d", 1<<24, *p.MaxTokens)
	}
	if rf := strings.TrimSpace(string(p.ResponseFormat)); rf != "" && rf != "null" && !strings.HasPrefix(rf, "{") {
		return fieldErr("params.response_format", "response_format must be an object such as {\"type\":\"json_object\"}")
	}
	return nil
}

// CheckText returns an error if a description or note is too long, not
// UTF-8 or holds control characters other than newlines and tabs.
func CheckText(field, s string) error { return checkText(field, s) }

func checkText(field, s string) error {
	if len(s) > maxTextLen {
		return fieldErr(field, "longer than %d bytes", maxTextLen)
	}
	if !utf8.ValidString(s) {
		return fieldErr(field, "not valid UTF-8")
	}
	for _, c := range s {
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			return fieldErr(field, "holds a control character (%U)", c)
		}
	}
	return nil
}

// VariableError is a request's variable problem: a required variable
// missing, a variable the version does not declare, or a bad value.
type VariableError struct {
	Name string
	Msg  string
}

func (e *VariableError) Error() string { return e.Msg }

// Render returns t's messages with every placeholder replaced by its
// variable's value: the value given in vars, else the variable's
// default. A required variable missing from vars, a name in vars the
// template does not declare and a value over MaxValueSize are a
// *VariableError. Values are substituted as given: a placeholder inside
// a value is not expanded.
func (t Template) Render(vars map[string]string) ([]Message, error) {
	values := make(map[string]string, len(t.Variables))
	for _, v := range t.Variables {
		val, ok := vars[v.Name]
		switch {
		case ok:
			values[v.Name] = val
		case v.Required:
			return nil, &VariableError{Name: v.Name, Msg: fmt.Sprintf("missing required prompt variable %q", v.Name)}
		default:
			values[v.Name] = v.Default
		}
	}
	// Reported in name order, so that the error is the same every time.
	for _, name := range sortedKeys(vars) {
		if _, ok := values[name]; !ok {
			return nil, &VariableError{Name: name, Msg: fmt.Sprintf("unknown prompt variable %q: the prompt declares %s", name, declaredList(t.Variables))}
		}
		if len(vars[name]) > MaxValueSize {
			return nil, &VariableError{Name: name, Msg: fmt.Sprintf("prompt variable %q is longer than %d bytes", name, MaxValueSize)}
		}
	}
	out := make([]Message, len(t.Messages))
	for i, m := range t.Messages {
		out[i] = Message{Role: m.Role, Content: placeholder.ReplaceAllStringFunc(m.Content, func(s string) string {
			return values[placeholder.FindStringSubmatch(s)[1]]
		})}
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func declaredList(vs []Variable) string {
	if len(vs) == 0 {
		return "no variables"
	}
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}
