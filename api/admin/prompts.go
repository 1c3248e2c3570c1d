package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/bulwark-ai/bulwark/api"
	"github.com/bulwark-ai/bulwark/prompt"
	"github.com/bulwark-ai/bulwark/tenant"
)

// Audited prompt actions. The target is the prompt id, with the version
// ("triage@3") or the label and the version it now points at
// ("triage:production@3"); the target tenant is the prompt's.
const (
	actionPromptCreate      = "prompt.create"
	actionPromptVersion     = "prompt.version"
	actionPromptLabel       = "prompt.label"
	actionPromptLabelDelete = "prompt.label.delete"
)

// maxPromptBodyBytes bounds a prompt's body: its messages may be long.
const maxPromptBodyBytes = prompt.MaxTemplateSize + 64<<10

// Prompts serves the prompt registry: a tenant's admin keys manage its
// prompts, the operator's every tenant's. It is safe for concurrent use.
type Prompts struct {
	h     *Handler
	store prompt.Store
	// changed is called after every change, to reload this replica's
	// prompt cache; nil does nothing.
	changed func(ctx context.Context)
}

// NewPrompts returns the prompt routes of h over store; changed (may be
// nil) is called after each change. Changes are audited like h's.
func NewPrompts(h *Handler, store prompt.Store, changed func(ctx context.Context)) *Prompts {
	return &Prompts{h: h, store: store, changed: changed}
}

// Routes returns the prompt routes. Versions have no route that changes
// or deletes them: they are immutable.
func (ps *Prompts) Routes() map[string]HandlerFunc {
	return map[string]HandlerFunc{
		"POST /admin/v1/prompts":                        ps.create,
		"GET /admin/v1/prompts":                         ps.list,
		"GET /admin/v1/prompts/{id}":                    ps.get,
		"POST /admin/v1/prompts/{id}/versions":          ps.addVersion,
		"GET /admin/v1/prompts/{id}/versions":           ps.listVersions,
		"GET /admin/v1/prompts/{id}/versions/{version}": ps.getVersion,
		"PUT /admin/v1/prompts/{id}/labels/{label}":     ps.setLabel,
		"POST /admin/v1/prompts/{id}/labels/{label}":    ps.setLabel,
		"DELETE /admin/v1/prompts/{id}/labels/{label}":  ps.deleteLabel,
	}
}

// promptObject is a prompt on the wire.
type promptObject struct {
	Object string `json:"object"`
	prompt.Prompt
}

func newPromptObject(p prompt.Prompt) promptObject {
	if p.Labels == nil {
		p.Labels = map[string]int{}
	}
	return promptObject{Object: "prompt", Prompt: p}
}

// versionObject is a version on the wire.
type versionObject struct {
	Object string `json:"object"`
	prompt.Version
}

func newVersionObject(v prompt.Version) versionObject {
	if v.Variables == nil {
		v.Variables = []prompt.Variable{}
	}
	return versionObject{Object: "prompt.version", Version: v}
}

// versionRequest is a version's body, also part of a create.
type versionRequest struct {
	prompt.Template
	Note string `json:"note"`
}

type createPromptRequest struct {
	// ID is the prompt's id within its tenant; empty: a generated
	// pmpt_… id.
	ID string `json:"id"`
	// TenantID is the owner; empty: the admin key's tenant.
	TenantID    string `json:"tenant_id"`
	Description string `json:"description"`
	versionRequest
	// Labels are set on version 1, such as ["production"].
	Labels []string `json:"labels"`
}

// templateError turns a template's *prompt.FieldError into a 400.
func templateError(err error) error {
	var fe *prompt.FieldError
	if errors.As(err, &fe) {
		return api.BadRequest(fe.Field, "%s: %s", fe.Field, fe.Msg)
	}
	return api.BadRequest("", "%s", err.Error())
}

// promptStoreError turns the store's sentinel errors about what into API
// errors.
func promptStoreError(err error, what string) error {
	switch {
	case errors.Is(err, prompt.ErrNotFound):
		return notFound(what)
	case errors.Is(err, prompt.ErrExists):
		return api.Errorf(http.StatusConflict, api.TypeInvalidRequest, "already_exists", "%s already exists", what)
	}
	return err
}

func (ps *Prompts) decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxPromptBodyBytes)
	return api.DecodeJSON(r, v)
}

// after reloads this replica's cache once a change is stored; other
// replicas hear of it from the store (or their periodic reload).
func (ps *Prompts) after(r *http.Request) {
	if ps.changed == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), reloadTimeout)
	defer cancel()
	ps.changed(ctx)
}

func (ps *Prompts) create(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	var req createPromptRequest
	if err := ps.decode(w, r, &req); err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	tenantID := req.TenantID
	if tenantID == "" {
		tenantID = p.TenantID
	}
	if err := checkTenantID("tenant_id", tenantID); err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	if !canSee(p, tenantID) {
		e := notFound(describe("tenant", tenantID))
		e.Param = "tenant_id"
		ps.h.fail(w, r, p, e)
		return
	}
	if req.ID == "" {
		req.ID = tenant.NewID("pmpt")
	}
	if err := prompt.CheckID(req.ID); err != nil {
		ps.h.fail(w, r, p, api.BadRequest("id", "%s", err.Error()))
		return
	}
	if err := prompt.CheckText("description", req.Description); err != nil {
		ps.h.fail(w, r, p, templateError(err))
		return
	}
	if err := req.check(); err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	for _, l := range req.Labels {
		if err := prompt.CheckLabel(l); err != nil {
			ps.h.fail(w, r, p, api.BadRequest("labels", "%s", err.Error()))
			return
		}
	}
	now := ps.h.now().UTC()
	pr := prompt.Prompt{TenantID: tenantID, ID: req.ID, Description: req.Description, CreatedAt: now, CreatedBy: p.KeyID}
	v := prompt.Version{TenantID: tenantID, PromptID: req.ID, Number: 1, Template: req.Template, Note: req.Note, CreatedAt: now, CreatedBy: p.KeyID}
	if err := ps.store.CreatePrompt(r.Context(), pr, v); err != nil {
		if errors.Is(err, prompt.ErrNotFound) {
			e := notFound(describe("tenant", tenantID))
			e.Param = "tenant_id"
			err = e
		} else {
			err = promptStoreError(err, describe("prompt", req.ID))
		}
		ps.h.fail(w, r, p, err)
		return
	}
	ps.h.log.InfoContext(r.Context(), "admin: prompt created", "by_key", p.KeyID, "prompt", req.ID, "tenant", tenantID)
	ps.h.audit(r, p, actionPromptCreate, req.ID, tenantID)
	for _, l := range req.Labels {
		if _, err := ps.store.SetPromptLabel(r.Context(), tenantID, req.ID, l, 1); err != nil {
			ps.after(r)
			ps.h.fail(w, r, p, fmt.Errorf("prompt %q created, but setting label %q failed: %w", req.ID, l, err))
			return
		}
		ps.h.audit(r, p, actionPromptLabel, fmt.Sprintf("%s:%s@1", req.ID, l), tenantID)
	}
	ps.after(r)
	out, err := ps.store.Prompt(r.Context(), tenantID, req.ID)
	if err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, struct {
		promptObject
		Version versionObject `json:"version"`
	}{newPromptObject(out), newVersionObject(v)})
}

// check validates a version's body.
func (req versionRequest) check() error {
	if err := req.Template.Check(); err != nil {
		return templateError(err)
	}
	if err := prompt.CheckText("note", req.Note); err != nil {
		return templateError(err)
	}
	return nil
}

// target returns the tenant of the prompt the request names, checking
// that p may see it. tenant_id in the query names the tenant; without it
// the key's own tenant is meant, except that an operator key finds a
// prompt of any tenant whose id is unique across tenants.
func (ps *Prompts) target(r *http.Request, p tenant.Principal) (tenantID, id string, err error) {
	id = r.PathValue("id")
	if err := prompt.CheckID(id); err != nil {
		return "", "", api.BadRequest("id", "%s", err.Error())
	}
	tenantID = r.URL.Query().Get("tenant_id")
	if tenantID != "" {
		if err := checkTenantID("tenant_id", tenantID); err != nil {
			return "", "", err
		}
		if !canSee(p, tenantID) {
			return "", "", notFound(describe("prompt", id))
		}
		return tenantID, id, nil
	}
	if !operator(p) {
		return p.TenantID, id, nil
	}
	all, err := ps.store.Prompts(r.Context(), "")
	if err != nil {
		return "", "", err
	}
	var found []string
	for _, q := range all {
		if q.ID == id {
			found = append(found, q.TenantID)
		}
	}
	switch len(found) {
	case 0:
		return "", "", notFound(describe("prompt", id))
	case 1:
		return found[0], id, nil
	}
	return "", "", api.BadRequest("tenant_id", "tenants %v each have a prompt %q: give tenant_id", found, id)
}

func (ps *Prompts) list(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	tenantID := r.URL.Query().Get("tenant_id")
	if tenantID != "" {
		if err := checkTenantID("tenant_id", tenantID); err != nil {
			ps.h.fail(w, r, p, err)
			return
		}
	}
	if !operator(p) {
		if tenantID != "" && tenantID != p.TenantID {
			ps.h.fail(w, r, p, notFound(describe("tenant", tenantID)))
			return
		}
		tenantID = p.TenantID
	}
	list, err := ps.store.Prompts(r.Context(), tenantID)
	if err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	out := make([]promptObject, len(list))
	for i, q := range list {
		out[i] = newPromptObject(q)
	}
	api.WriteJSON(w, http.StatusOK, newList(out))
}

func (ps *Prompts) get(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	tenantID, id, err := ps.target(r, p)
	if err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	q, err := ps.store.Prompt(r.Context(), tenantID, id)
	if err != nil {
		ps.h.fail(w, r, p, promptStoreError(err, describe("prompt", id)))
		return
	}
	api.WriteJSON(w, http.StatusOK, newPromptObject(q))
}

func (ps *Prompts) addVersion(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	tenantID, id, err := ps.target(r, p)
	if err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	var req versionRequest
	if err := ps.decode(w, r, &req); err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	if err := req.check(); err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	v := prompt.Version{TenantID: tenantID, PromptID: id, Template: req.Template, Note: req.Note,
		CreatedAt: ps.h.now().UTC(), CreatedBy: p.KeyID}
	n, err := ps.store.AddPromptVersion(r.Context(), v)
	if err != nil {
		ps.h.fail(w, r, p, promptStoreError(err, describe("prompt", id)))
		return
	}
	v.Number = n
	ps.h.log.InfoContext(r.Context(), "admin: prompt version created", "by_key", p.KeyID, "prompt", id, "tenant", tenantID, "version", n)
	ps.h.audit(r, p, actionPromptVersion, fmt.Sprintf("%s@%d", id, n), tenantID)
	ps.after(r)
	api.WriteJSON(w, http.StatusCreated, newVersionObject(v))
}

func (ps *Prompts) listVersions(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	tenantID, id, err := ps.target(r, p)
	if err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	if _, err := ps.store.Prompt(r.Context(), tenantID, id); err != nil {
		ps.h.fail(w, r, p, promptStoreError(err, describe("prompt", id)))
		return
	}
	vs, err := ps.store.PromptVersions(r.Context(), tenantID, id)
	if err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	out := make([]versionObject, len(vs))
	for i, v := range vs {
		out[i] = newVersionObject(v)
	}
	api.WriteJSON(w, http.StatusOK, newList(out))
}

// versionNumber reads the {version} of a path.
func versionNumber(r *http.Request) (int, error) {
	s := r.PathValue("version")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, api.BadRequest("version", "version must be a number from 1, not %q", s)
	}
	return n, nil
}

func (ps *Prompts) getVersion(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	tenantID, id, err := ps.target(r, p)
	if err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	n, err := versionNumber(r)
	if err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	v, err := ps.store.PromptVersion(r.Context(), tenantID, id, n)
	if err != nil {
		ps.h.fail(w, r, p, promptStoreError(err, fmt.Sprintf("version %d of prompt %q", n, id)))
		return
	}
	api.WriteJSON(w, http.StatusOK, newVersionObject(v))
}

// labelObject answers a label change.
type labelObject struct {
	Object   string `json:"object"`
	TenantID string `json:"tenant_id"`
	PromptID string `json:"prompt_id"`
	Label    string `json:"label"`
	Version  int    `json:"version,omitempty"`
	// Previous is the version the label pointed at before; 0: none.
	Previous int  `json:"previous_version,omitempty"`
	Deleted  bool `json:"deleted,omitempty"`
}

func (ps *Prompts) setLabel(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	tenantID, id, err := ps.target(r, p)
	if err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	label := r.PathValue("label")
	if err := prompt.CheckLabel(label); err != nil {
		ps.h.fail(w, r, p, api.BadRequest("label", "%s", err.Error()))
		return
	}
	var req struct {
		Version int `json:"version"`
	}
	if err := ps.decode(w, r, &req); err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	if req.Version < 1 {
		ps.h.fail(w, r, p, api.BadRequest("version", "version is required: the number of the version the label points at"))
		return
	}
	prev, err := ps.store.SetPromptLabel(r.Context(), tenantID, id, label, req.Version)
	if err != nil {
		ps.h.fail(w, r, p, promptStoreError(err, fmt.Sprintf("version %d of prompt %q", req.Version, id)))
		return
	}
	ps.h.log.InfoContext(r.Context(), "admin: prompt label set", "by_key", p.KeyID, "prompt", id, "tenant", tenantID,
		"label", label, "version", req.Version, "previous_version", prev)
	ps.h.audit(r, p, actionPromptLabel, fmt.Sprintf("%s:%s@%d", id, label, req.Version), tenantID)
	ps.after(r)
	api.WriteJSON(w, http.StatusOK, labelObject{Object: "prompt.label", TenantID: tenantID, PromptID: id, Label: label,
		Version: req.Version, Previous: prev})
}

func (ps *Prompts) deleteLabel(w http.ResponseWriter, r *http.Request, p tenant.Principal) {
	tenantID, id, err := ps.target(r, p)
	if err != nil {
		ps.h.fail(w, r, p, err)
		return
	}
	label := r.PathValue("label")
	if err := prompt.CheckLabel(label); err != nil {
		ps.h.fail(w, r, p, api.BadRequest("label", "%s", err.Error()))
		return
	}
	prev, err := ps.store.DeletePromptLabel(r.Context(), tenantID, id, label)
	if err != nil {
		ps.h.fail(w, r, p, promptStoreError(err, fmt.Sprintf("label %q of prompt %q", label, id)))
		return
	}
	ps.h.log.InfoContext(r.Context(), "admin: prompt label removed", "by_key", p.KeyID, "prompt", id, "tenant", tenantID, "label", label)
	ps.h.audit(r, p, actionPromptLabelDelete, fmt.Sprintf("%s:%s", id, label), tenantID)
	ps.after(r)
	api.WriteJSON(w, http.StatusOK, labelObject{Object: "prompt.label", TenantID: tenantID, PromptID: id, Label: label,
		Previous: prev, Deleted: true})
}
