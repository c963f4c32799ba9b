package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Action is what Apply does with one resource.
type Action string

// The actions of a plan.
const (
	// ActionCreate: the resource does not exist.
	ActionCreate Action = "create"
	// ActionSkip: it exists with the same spec.
	ActionSkip Action = "skip"
	// ActionUpdate: it exists with another spec and updates were allowed.
	ActionUpdate Action = "update"
	// ActionConflict: it exists with another spec; Apply refuses the
	// whole plan rather than overwrite it.
	ActionConflict Action = "conflict"
)

// Step is one resource of a plan and what to do with it.
type Step struct {
	Action Action `json:"action"`
	Resource
	// Difference names the first member where the existing spec differs
	// (update and conflict only).
	Difference string `json:"difference,omitempty"`
}

// Plan is the ordered list of steps an import takes.
type Plan struct {
	// Endpoint is the App Mesh endpoint the plan was made against (empty
	// for an offline plan).
	Endpoint string `json:"endpoint,omitempty"`
	Steps    []Step `json:"steps"`
}

// Count returns how many steps have action a.
func (p *Plan) Count(a Action) int {
	n := 0
	for _, s := range p.Steps {
		if s.Action == a {
			n++
		}
	}
	return n
}

// API is the part of the App Mesh API the importer uses; SDK implements
// it with the aws-sdk-go-v2 client.
type API interface {
	// Describe returns the spec JSON of an existing resource, or found
	// false when it (or its mesh or parent) does not exist.
	Describe(ctx context.Context, r *Resource) (spec json.RawMessage, found bool, err error)
	// Create creates the resource with its spec and tags.
	Create(ctx context.Context, r *Resource) error
	// Update replaces the resource's spec (tags are left alone).
	Update(ctx context.Context, r *Resource) error
}

// OfflinePlan is the plan without asking a server: every resource is a
// create. rs must be in creation order (see Order).
func OfflinePlan(rs []Resource) *Plan {
	p := &Plan{Steps: make([]Step, 0, len(rs))}
	for _, r := range rs {
		p.Steps = append(p.Steps, Step{Action: ActionCreate, Resource: r})
	}
	return p
}

// MakePlan compares each resource with what the server has; it only
// reads. Children of a mesh, router or gateway the plan creates are
// creates without asking. rs must be in creation order (see Order).
func MakePlan(ctx context.Context, api API, rs []Resource, allowUpdate bool) (*Plan, error) {
	p := &Plan{Steps: make([]Step, 0, len(rs))}
	created := map[string]bool{}
	for _, r := range rs {
		step := Step{Action: ActionCreate, Resource: r}
		parentID := ""
		if pk := r.Kind.parentKind(); pk != "" {
			parentID = (&Resource{Kind: pk, Mesh: r.Mesh, Name: r.Parent}).ID()
		}
		meshID := (&Resource{Kind: KindMesh, Mesh: r.Mesh}).ID()
		if r.Kind == KindMesh || !(created[meshID] || created[parentID]) {
			have, found, err := api.Describe(ctx, &r)
			if err != nil {
				return nil, fmt.Errorf("%s (%s): %w", r.ID(), r.Source, err)
			}
			if found {
				diff, err := difference(r.Kind, r.Spec, have)
				if err != nil {
					return nil, fmt.Errorf("%s (%s): %w", r.ID(), r.Source, err)
				}
				switch {
				case diff == "":
					step.Action = ActionSkip
				case allowUpdate:
					step.Action, step.Difference = ActionUpdate, diff
				default:
					step.Action, step.Difference = ActionConflict, diff
				}
			}
		}
		if step.Action == ActionCreate {
			created[r.ID()] = true
		}
		p.Steps = append(p.Steps, step)
	}
	return p, nil
}

// ErrConflicts is returned by Apply for a plan with conflicts.
var ErrConflicts = errors.New("existing resources differ from the input")

// Apply carries out a plan in order and stops at the first failure,
// returning how many steps it completed. A plan with any conflict is
// refused before anything is written.
func Apply(ctx context.Context, api API, p *Plan) (int, error) {
	if n := p.Count(ActionConflict); n > 0 {
		return 0, fmt.Errorf("%w: %d conflict(s); nothing was changed (re-run with --update to overwrite them)", ErrConflicts, n)
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		var err error
		switch s.Action {
		case ActionCreate:
			err = api.Create(ctx, &s.Resource)
		case ActionUpdate:
			err = api.Update(ctx, &s.Resource)
		case ActionSkip:
		default:
			err = fmt.Errorf("unknown action %q", s.Action)
		}
		if err != nil {
			return i, fmt.Errorf("%s %s (%s): %w", s.Action, s.ID(), s.Source, err)
		}
	}
	return len(p.Steps), nil
}

// WriteText prints the plan for people: one line per step, notes and
// differences indented below it, then the totals.
func (p *Plan) WriteText(w io.Writer) error {
	width := 0
	for _, s := range p.Steps {
		width = max(width, len(s.ID()))
	}
	var b strings.Builder
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "%-8s  %-*s  %s\n", s.Action, width, s.ID(), s.Source)
		if s.Difference != "" {
			fmt.Fprintf(&b, "  differs: %s\n", s.Difference)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "  note: %s\n", n)
		}
	}
	fmt.Fprintf(&b, "%d to create, %d to update, %d unchanged, %d conflicts\n",
		p.Count(ActionCreate), p.Count(ActionUpdate), p.Count(ActionSkip), p.Count(ActionConflict))
	_, err := io.WriteString(w, b.String())
	return err
}

// difference compares the wanted spec with the server's and names the
// first member that differs, "" when they are the same. Empty members
// ({} [] null) count as absent, and the mesh's egressFilter defaults to
// DROP_ALL, as the API fills it in.
func difference(kind Kind, want, have json.RawMessage) (string, error) {
	w, err := decodeNumbers(want)
	if err != nil {
		return "", fmt.Errorf("wanted spec: %w", err)
	}
	h, err := decodeNumbers(have)
	if err != nil {
		return "", fmt.Errorf("existing spec: %w", err)
	}
	w, h = prune(w), prune(h)
	if kind == KindMesh {
		w, h = meshDefaults(w), meshDefaults(h)
	}
	return firstDiff("spec", w, h), nil
}

func decodeNumbers(b json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func meshDefaults(v any) any {
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	if _, ok := m["egressFilter"]; !ok {
		m["egressFilter"] = map[string]any{"type": "DROP_ALL"}
	}
	return m
}

// prune drops null, empty objects and empty lists, recursively; it
// returns nil for a value that is empty after pruning.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if p := prune(e); p == nil {
				delete(x, k)
			} else {
				x[k] = p
			}
		}
		if len(x) == 0 {
			return nil
		}
		return x
	case []any:
		out := x[:0]
		for _, e := range x {
			if p := prune(e); p != nil {
				out = append(out, p)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return v
}

func firstDiff(path string, w, h any) string {
	switch wx := w.(type) {
	case map[string]any:
		hx, ok := h.(map[string]any)
		if !ok {
			return path + ": " + brief(h) + " on the server, " + brief(w) + " in the input"
		}
		keys := map[string]bool{}
		for k := range wx {
			keys[k] = true
		}
		for k := range hx {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if d := firstDiff(path+"."+k, wx[k], hx[k]); d != "" {
				return d
			}
		}
		return ""
	case []any:
		hx, ok := h.([]any)
		if !ok || len(hx) != len(wx) {
			return path + ": " + brief(h) + " on the server, " + brief(w) + " in the input"
		}
		for i := range wx {
			if d := firstDiff(fmt.Sprintf("%s[%d]", path, i), wx[i], hx[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if fmt.Sprint(w) == fmt.Sprint(h) && sameType(w, h) {
		return ""
	}
	return path + ": " + brief(h) + " on the server, " + brief(w) + " in the input"
}

func sameType(a, b any) bool { return fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b) }

// brief renders a value for a difference line, cut short.
func brief(v any) string {
	if v == nil {
		return "absent"
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strings.ReplaceAll(s, "\n", " ")
}
