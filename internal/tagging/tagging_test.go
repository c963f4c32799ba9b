package tagging

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func id(t Tag) Tag { return t }

func TestMergeRemove(t *testing.T) {
	have := []Tag{{"a", "1"}, {"b", "2"}}
	got := Merge(have, []Tag{{"b", "3"}, {"c", "4"}}, id)
	if want := []Tag{{"a", "1"}, {"b", "3"}, {"c", "4"}}; !slices.Equal(got, want) {
		t.Fatalf("Merge = %v, want %v", got, want)
	}
	if have[1].Value != "2" {
		t.Fatal("Merge changed its input")
	}
	for _, tc := range []struct {
		name string
		rm   []Tag
		want []Tag
	}{
		{"by key", []Tag{{"a", ""}}, []Tag{{"b", "3"}, {"c", "4"}}},
		{"by key and value", []Tag{{"b", "3"}}, []Tag{{"a", "1"}, {"c", "4"}}},
		{"value differs: kept", []Tag{{"b", "9"}}, got},
		{"absent", []Tag{{"z", ""}}, got},
	} {
		if r := Remove(got, tc.rm, id); !slices.Equal(r, tc.want) {
			t.Errorf("%s: Remove = %v, want %v", tc.name, r, tc.want)
		}
	}
	if r := RemoveKeys(got, []string{"a", "c"}, id); !slices.Equal(r, []Tag{{"b", "3"}}) {
		t.Errorf("RemoveKeys = %v", r)
	}
	if l := List[Tag](nil); l == nil || len(l) != 0 {
		t.Errorf("List(nil) = %#v, want empty non-nil", l)
	}
	if m := Map[Tag](nil, id); m == nil {
		t.Error("Map(nil) = nil, want empty non-nil")
	}
}

func TestIsReserved(t *testing.T) {
	for k, want := range map[string]bool{"aws:x": true, "AWS:x": true, "aWs:": true, "aws": false, "awsx:": false, "x-aws:": false, "": false} {
		if IsReserved(k) != want {
			t.Errorf("IsReserved(%q) = %v", k, !want)
		}
	}
}

// FuzzCheck: tags come straight from requests. Check must not panic, and
// whatever it accepts must satisfy every rule.
func FuzzCheck(f *testing.F) {
	f.Add("env", "prod", "env", "x")
	f.Add("AWS:x", "", "a", "b")
	f.Add("\xff", "é", "k", "v")
	f.Add(strings.Repeat("é", 129), "", "", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		tags := []Tag{{k1, v1}, {k2, v2}}
		err := Check(tags, id)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Check returned %T", err)
			}
			_ = err.Error()
			return
		}
		if k1 == k2 {
			t.Fatal("duplicate keys accepted")
		}
		for _, x := range tags {
			if n := utf8.RuneCountInString(x.Key); n < 1 || n > MaxKeyLen || utf8.RuneCountInString(x.Value) > MaxValueLen {
				t.Fatalf("lengths accepted: %q", x)
			}
			if !utf8.ValidString(x.Key) || !utf8.ValidString(x.Value) || IsReserved(x.Key) {
				t.Fatalf("accepted %q", x)
			}
		}
	})
}

func TestWrap(t *testing.T) {
	t.Parallel()
	invalid, tooMany, other := errors.New("invalid"), errors.New("too many"), errors.New("store down")
	tests := []struct {
		name string
		in   error
		want error // nil: Wrap must return nil
	}{
		{"valid", nil, nil},
		{"too many", Check(make([]Tag, MaxTags+1), id), tooMany},
		{"reserved", Check([]Tag{{Key: "aws:x"}}, id), invalid},
		{"bad key alone", CheckKey(0, ""), invalid},
		{"not a tag error", other, other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Wrap(tc.in, invalid, tooMany)
			if tc.want == nil {
				if got != nil {
					t.Fatalf("got %v, want nil", got)
				}
				return
			}
			if !errors.Is(got, tc.want) {
				t.Fatalf("got %v, want it to wrap %v", got, tc.want)
			}
			var te *Error
			if errors.As(tc.in, &te) && !strings.Contains(got.Error(), te.Message()) {
				t.Errorf("%q lost the rule's message %q", got, te.Message())
			}
		})
	}
}
