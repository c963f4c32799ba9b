package audit

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestAppendBoundsEveryEvent is the attack class "make the call too large to
// record": whatever the caller puts in an event, Append writes a line within
// MaxLineBytes that says what was shortened, and the log stays healthy.
func TestAppendBoundsEveryEvent(t *testing.T) {
	t.Parallel()
	lt := strings.Repeat("<", 180<<10) // six bytes each once escaped
	deep := map[string]any{}
	cur := deep
	for range 500 {
		next := map[string]any{strings.Repeat("k", 5000): lt[:5000]}
		cur["n"] = next
		cur = next
	}
	many := make([]any, 20000)
	for i := range many {
		many[i] = "<<<<<<<<<<"
	}
	wideKeys := map[string]any{}
	for i := range 200 {
		wideKeys[strings.Repeat("<", 4000)+string(rune('a'+i%26))+strings.Repeat("x", i)] = "v"
	}
	resources := make([]Resource, 1000)
	for i := range resources {
		resources[i] = Resource{ARN: lt[:3000], Type: lt[:3000], AccountID: lt[:3000]}
	}
	cases := []struct {
		name   string
		mutate func(e *Event)
		elided string // a path that must be listed
	}{
		{"huge string parameter", func(e *Event) { e.RequestParameters = map[string]any{"Description": lt} }, "requestParameters.Description"},
		{"huge response element", func(e *Event) { e.ResponseElements = map[string]any{"x": []any{lt}} }, "responseElements.x[0]"},
		{"top-level string", func(e *Event) { e.ResponseElements = lt }, "responseElements"},
		{"huge error message", func(e *Event) { e.ErrorCode, e.ErrorMessage = "ValidationException", lt }, "errorMessage"},
		{"huge user agent", func(e *Event) { e.UserAgent = lt }, "userAgent"},
		{"huge event name", func(e *Event) { e.EventName = lt }, "eventName"},
		{"huge identity", func(e *Event) { e.UserIdentity.AccessKeyID = lt }, "userIdentity.accessKeyId"},
		{"deep nesting of long names", func(e *Event) { e.RequestParameters = deep }, "requestParameters"},
		{"many small strings", func(e *Event) { e.RequestParameters = map[string]any{"List": many} }, "requestParameters"},
		{"many long member names", func(e *Event) { e.RequestParameters = wideKeys }, "requestParameters"},
		{"many resources", func(e *Event) { e.Resources = resources }, "resources[16:]"},
		{"unserialisable", func(e *Event) { e.RequestParameters = map[string]any{"ch": make(chan int)} }, "requestParameters"},
		{"huge additional data", func(e *Event) { e.AdditionalEventData = map[string]any{"x": lt} }, "additionalEventData.x"},
		{"everything at once", func(e *Event) {
			e.RequestParameters, e.ResponseElements, e.Resources = wideKeys, deep, resources
			e.ErrorMessage, e.UserAgent, e.EventName, e.AdditionalEventData = lt, lt, lt, map[string]any{"a": many}
			u := &e.UserIdentity
			u.ARN, u.PrincipalID, u.UserName, u.InvokedBy, u.AccountID, u.Type = lt, lt, lt, lt, lt, lt
		}, "userIdentity.arn"},
	}
	l, path := openTest(t, Options{})
	defer l.Close()
	for _, c := range cases {
		e := testEvent(c.name)
		c.mutate(e)
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatalf("%s: Append = %v, want the event written shortened", c.name, err)
		}
	}
	if err := l.Healthy(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != len(cases) {
		t.Fatalf("%d lines, want %d", len(lines), len(cases))
	}
	for i, line := range lines {
		c := cases[i]
		if len(line) > MaxLineBytes {
			t.Errorf("%s: line of %d bytes", c.name, len(line))
		}
		var got struct {
			RequestID  string `json:"requestID"`
			Additional struct {
				Elided []string `json:"elided"`
			} `json:"additionalEventData"`
		}
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		found := false
		for _, p := range got.Additional.Elided {
			found = found || p == c.elided
		}
		if !found {
			t.Errorf("%s: elided = %q, want it to list %q", c.name, got.Additional.Elided, c.elided)
		}
	}
	if n, err := VerifyFile(path); err != nil || n != len(cases) {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}

func TestTruncateMarksAndKeepsUTF8(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("é", 3000) // 6000 bytes
	got, ok := truncate(s, 4095)
	if !ok || !strings.Contains(got, TruncatedMarker+"6000 bytes, sha256 ") {
		t.Fatalf("truncate = %q", got[len(got)-120:])
	}
	if !json.Valid([]byte(`"`+strings.ReplaceAll(got, `"`, ``)+`"`)) || strings.Contains(got, "\uFFFD") {
		t.Error("cut inside a rune")
	}
	if same, ok := truncate("short", 10); ok || same != "short" {
		t.Error("short string changed")
	}
}

func TestBoundLeavesSharedValuesAlone(t *testing.T) {
	t.Parallel()
	params := map[string]any{"Description": strings.Repeat("x", 10000)}
	e := testEvent("shared")
	e.RequestParameters = params
	bound(e)
	if len(params["Description"].(string)) != 10000 {
		t.Error("bound modified the caller's map")
	}
}
