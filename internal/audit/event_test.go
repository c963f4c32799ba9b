package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/clock"
)

// stdLine is what marshalLine wrote before appendEvent: json.Marshal of
// the event with the placeholder hash. The hand-written encoder must match
// it byte for byte, since the hash chain covers those bytes.
func stdLine(t testing.TB, e *Event) ([]byte, error) {
	t.Helper()
	c := *e
	c.PreviousHash = ZeroHash
	c.Hash, c.MAC = "", ""
	return json.Marshal(&c)
}

type marshalerValue struct{ s string }

func (m marshalerValue) MarshalJSON() ([]byte, error) {
	return []byte(` { "m" : ` + string(mustJSON(m.s)) + ` } `), nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// awkward holds strings that exercise every escaping rule of encoding/json.
var awkward = []string{
	"", "plain", `"quoted" \back\slash/`, "<script>&amp;</script>",
	"ctl \x00\x01\x07\b\f\n\r\t\x1f\x7f end", "ünïcödé ✓ 𝄞", "line\u2028para\u2029",
	"bad \xff\xfe utf8 \xc3", "\xed\xa0\x80 surrogate", strings.Repeat("x", 5000),
}

func TestMarshalLineMatchesEncodingJSON(t *testing.T) {
	var nilMap map[string]any
	var nilPtr *Resource
	base := func() *Event { e := testEvent("t"); e.EventTime = fixedTime.UTC().Truncate(time.Second); return e }
	cases := []struct {
		name string
		mod  func(e *Event)
	}{
		{"typical", func(*Event) {}},
		{"zero event", func(e *Event) { *e = Event{} }},
		{"nanoseconds", func(e *Event) { e.EventTime = time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC) }},
		{"zoned time falls back", func(e *Event) { e.EventTime = fixedTime }},
		{"year 0", func(e *Event) { e.EventTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"nil trees", func(e *Event) { e.RequestParameters, e.ResponseElements = nil, nil }},
		{"typed nil trees", func(e *Event) { e.RequestParameters, e.ResponseElements = nilMap, nilPtr }},
		{"marshaler tree", func(e *Event) { e.ResponseElements = marshalerValue{"<&>"} }},
		{"struct tree", func(e *Event) { e.ResponseElements = struct{ A, b string }{"<a>", "hidden"} }},
		{"error", func(e *Event) { e.ErrorCode, e.ErrorMessage = "AccessDenied", "no <way> & \"never\"" }},
		{"no resources", func(e *Event) { e.Resources = nil }},
		{"empty resources", func(e *Event) { e.Resources = []Resource{} }},
		{"resources", func(e *Event) {
			e.Resources = []Resource{{ARN: "a", Type: "t"}, {ARN: "b<", AccountID: "1", Type: ""}}
		}},
		{"empty additional", func(e *Event) { e.AdditionalEventData = map[string]any{} }},
		{"additional", func(e *Event) { e.AdditionalEventData = map[string]any{"z": 1, "a": []string{"<"}, "m": nil} }},
		{"identity all", func(e *Event) {
			e.UserIdentity = UserIdentity{Type: "T", PrincipalID: "p", ARN: "a", AccountID: "1", AccessKeyID: "k", UserName: "u", InvokedBy: "i"}
		}},
		{"identity empty", func(e *Event) { e.UserIdentity = UserIdentity{} }},
		{"checkpoint", func(e *Event) { e.Checkpoint = &Checkpoint{Reason: "start"} }},
		{"checkpoint signed", func(e *Event) { e.Checkpoint = &Checkpoint{Reason: "r", PublicKey: "pk+/=", Signature: "sig"} }},
		{"hash and mac ignored", func(e *Event) { e.Hash, e.MAC, e.PreviousHash = "h", "m", "p" }},
	}
	for i, s := range awkward {
		cases = append(cases, struct {
			name string
			mod  func(e *Event)
		}{"awkward " + string(rune('a'+i)), func(e *Event) {
			e.EventVersion, e.EventSource, e.EventName, e.AWSRegion = s, s, s, s
			e.SourceIPAddress, e.UserAgent, e.RequestID, e.EventID, e.EventType, e.RecipientAccountID = s, s, s, s, s, s
			e.ErrorCode, e.ErrorMessage = s, s
			e.UserIdentity = UserIdentity{Type: s, PrincipalID: s, ARN: s, AccountID: s, AccessKeyID: s, UserName: s, InvokedBy: s}
			e.Resources = []Resource{{ARN: s, AccountID: s, Type: s}}
			e.RequestParameters = map[string]any{s: s}
			e.Checkpoint = &Checkpoint{Reason: s, PublicKey: s, Signature: s}
		}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, withBound := range []bool{false, true} {
				e := base()
				tc.mod(e)
				var pre *trees
				if withBound {
					pre = bound(e)
				}
				want, werr := stdLine(t, e)
				got, gerr := marshalLine(e, pre)
				if werr != nil || gerr != nil {
					if werr == nil || gerr == nil {
						t.Fatalf("bound=%v: encoding/json error %v, marshalLine error %v", withBound, werr, gerr)
					}
					continue
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("bound=%v:\n got %s\nwant %s", withBound, got, want)
				}
			}
		})
	}
}

// FuzzMarshalLine: for any strings and any JSON trees, marshalLine writes
// exactly what encoding/json writes, before and after bound.
func FuzzMarshalLine(f *testing.F) {
	for _, s := range awkward[:len(awkward)-1] {
		f.Add(s, s, []byte(`{"a":[1,"<b>",null,true,{"c":"\u2028"}]}`), true, 0)
	}
	f.Add("x", "", []byte(`"just a string"`), false, 3)
	f.Add("", "\xff", []byte(`[]`), true, 2)
	f.Fuzz(func(t *testing.T, s1, s2 string, tree []byte, ro bool, n int) {
		var v any
		if json.Unmarshal(tree, &v) != nil {
			v = string(tree)
		}
		e := &Event{
			EventVersion: s1, EventTime: time.Unix(int64(n)*7919, int64(n)%1000*1000).UTC(), EventSource: s2, EventName: s1 + s2,
			AWSRegion: s2, SourceIPAddress: s1, UserAgent: s2,
			UserIdentity:      UserIdentity{Type: s1, PrincipalID: s2, ARN: s1, UserName: s2},
			RequestParameters: v, ErrorMessage: s2, RequestID: s1, EventID: s2, ReadOnly: ro,
			EventType: s1, RecipientAccountID: s2,
		}
		switch n % 4 {
		case 1:
			e.ResponseElements = map[string]any{s1: v, s2: []any{s1}}
			e.Resources = []Resource{{ARN: s1, AccountID: s2, Type: s1}}
		case 2:
			e.AdditionalEventData = map[string]any{s2: v}
			e.Checkpoint = &Checkpoint{Reason: s1, Signature: s2}
		case 3:
			e.ResponseElements = strings.Repeat(s1, 200)
		}
		for _, withBound := range []bool{false, true} {
			var pre *trees
			if withBound {
				pre = bound(e)
			}
			want, werr := stdLine(t, e)
			got, gerr := marshalLine(e, pre)
			if (werr == nil) != (gerr == nil) {
				if errors.Is(gerr, errTooLarge) {
					continue
				}
				t.Fatalf("encoding/json error %v, marshalLine error %v", werr, gerr)
			}
			if werr == nil && !bytes.Equal(got, want) {
				t.Fatalf("bound=%v:\n got %s\nwant %s", withBound, got, want)
			}
		}
	})
}

// goldenEvents are the events of testdata/encoding_json.log, which was
// written by the log as it was before appendEvent replaced json.Marshal
// (commit 7423f61, with these two functions copied into that checkout).
// Regenerate it only that way: written by today's code it would prove
// nothing.
func goldenEvents() []*Event {
	var out []*Event
	for i, s := range awkward {
		e := testEvent("golden-" + string(rune('a'+i)))
		e.UserAgent = s
		e.ErrorMessage = s
		e.ReadOnly = i%2 == 0
		// One string per tree that bound may shorten: the elided paths of
		// a map are listed in its (random) iteration order.
		e.ResponseElements = map[string]any{"Value": s, "List": []any{1.5, true, nil, "<short>"}}
		if i%3 == 0 {
			e.AdditionalEventData = map[string]any{"note": s}
		}
		out = append(out, e)
	}
	huge := testEvent("golden-huge")
	huge.RequestParameters = map[string]any{"Big": strings.Repeat("<", MaxParamStringBytes+1)}
	return append(out, huge)
}

// writeGoldenLog writes goldenEvents to path with a fixed clock and ids,
// keyed, so eventHmac and signed checkpoints are covered too.
func writeGoldenLog(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err) // Open would append to it
	}
	l, err := Open(path, Options{Clock: clock.NewFake(fixedTime), Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 1<<16)), Keys: testKeys(t, 3), CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range goldenEvents() {
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestGoldenLogFromEncodingJSON: a log written by the json.Marshal encoder
// still verifies, and the same events written today give the same bytes.
func TestGoldenLogFromEncodingJSON(t *testing.T) {
	golden := filepath.Join("testdata", "encoding_json.log")
	old, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyFiles([]string{golden}, VerifyOptions{Keys: []*Keys{testKeys(t, 3)}})
	if err != nil {
		t.Fatalf("old log does not verify: %v", err)
	}
	if rep.MACVerified < len(goldenEvents()) {
		t.Fatalf("report %+v", rep)
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	writeGoldenLog(t, path)
	now, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(now, old) {
		ol, nl := bytes.Split(old, []byte("\n")), bytes.Split(now, []byte("\n"))
		for i := range min(len(ol), len(nl)) {
			if !bytes.Equal(ol[i], nl[i]) {
				at := 0
				for at < min(len(ol[i]), len(nl[i])) && ol[i][at] == nl[i][at] {
					at++
				}
				from := max(0, at-100)
				t.Fatalf("line %d differs at byte %d:\n old …%s\n new …%s", i+1, at, ol[i][from:min(len(ol[i]), at+100)], nl[i][from:min(len(nl[i]), at+100)])
			}
		}
		t.Fatalf("%d lines before, %d now", len(ol), len(nl))
	}
	if _, err := VerifyFiles([]string{path}, VerifyOptions{Keys: []*Keys{testKeys(t, 3)}}); err != nil {
		t.Fatalf("new log does not verify: %v", err)
	}
}
