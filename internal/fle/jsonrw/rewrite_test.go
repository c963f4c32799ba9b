package jsonrw

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sels(t testing.TB, ss ...string) []Selector {
	t.Helper()
	var out []Selector
	for _, s := range ss {
		sel, err := ParseSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sel)
	}
	return out
}

// tag replaces a selected value by "<binding path>=<text>" so tests see both.
func tag(_ int, v Value) (string, error) { return "T(" + v.Path.Binding() + "=" + v.Text + ")", nil }

func TestRewrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		selectors []string
		want      string
	}{
		{"field anywhere", `[{"ssn":"1","a":{"ssn":2}}]`, []string{"ssn"},
			`[{"ssn":"T($[*].ssn=1)","a":{"ssn":"T($[*].a.ssn=2)"}}]`},
		{"array wildcard path", `[ {"ssn" : "x"} , {"ssn":"y","z":1} ]`, []string{"$[*].ssn"},
			`[ {"ssn" : "T($[*].ssn=x)"} , {"ssn":"T($[*].ssn=y)","z":1} ]`},
		{"exact path", `{"customer":{"card":{"number":"4111","cvv":"1"}},"number":"n"}`, []string{"$.customer.card.number"},
			`{"customer":{"card":{"number":"T($.customer.card.number=4111)","cvv":"1"}},"number":"n"}`},
		{"container selects leaves", `{"card":{"n":1,"e":[true,null,"x"]}}`, []string{"$.card"},
			`{"card":{"n":"T($.card.n=1)","e":["T($.card.e[*]=true)",null,"T($.card.e[*]=x)"]}}`},
		{"member wildcard", `{"a":{"x":1,"y":2}}`, []string{"$.a.*"}, `{"a":{"x":"T($.a.x=1)","y":"T($.a.y=2)"}}`},
		{"index", `[1,2,3]`, []string{"$[1]"}, `[1,"T($[*]=2)",3]`},
		{"descend", `{"a":[{"b":{"ssn":1}}]}`, []string{"$..ssn"}, `{"a":[{"b":{"ssn":"T($.a[*].b.ssn=1)"}}]}`},
		{"quoted name", `{"a.b":1}`, []string{`$["a.b"]`}, `{"a.b":"T($[\"a.b\"]=1)"}`},
		{"number spelling kept", `{"n":1.50e+3,"m":-0.0}`, []string{"n"}, `{"n":"T($.n=1.50e+3)","m":-0.0}`},
		{"escapes decoded", `{"s":"a\u00e9\"b"}`, []string{"s"}, `{"s":"T($.s=aé\"b)"}`},
		{"null not selected", `{"s":null}`, []string{"s"}, `{"s":null}`},
		{"no match is identity", "\n {\"a\" :\t1 }\n", []string{"b"}, "\n {\"a\" :\t1 }\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _, err := Rewrite([]byte(tc.in), Options{Selectors: sels(t, tc.selectors...), Field: tag})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Fatalf("output not valid JSON: %s", got)
			}
		})
	}
}

func TestRewriteInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"trailing", `{} x`},
		{"unterminated string", `{"a":"b`},
		{"bad escape", `{"a":"\x"}`},
		{"control char", "{\"a\":\"\x01\"}"},
		{"trailing comma", `[1,]`},
		{"leading zero", `01`},
		{"bare word", `{"a":tru}`},
		{"missing colon", `{"a" 1}`},
		{"two docs", `{}{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := Rewrite([]byte(tc.in), Options{Selectors: sels(t, "a"), Field: tag})
			var se *SyntaxError
			if !errors.As(err, &se) || out != nil {
				t.Fatalf("Rewrite(%q) = %q, %v; want SyntaxError and no output", tc.in, out, err)
			}
			if json.Valid([]byte(tc.in)) {
				t.Fatalf("test input %q is valid JSON", tc.in)
			}
		})
	}
}

func TestRewriteDepthAndCallbackError(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	if _, _, err := Rewrite([]byte(deep), Options{MaxDepth: 50}); err == nil {
		t.Fatal("depth limit not enforced")
	}
	boom := errors.New("boom")
	out, _, err := Rewrite([]byte(`{"a":1,"b":2}`), Options{Selectors: sels(t, "b"),
		Field: func(int, Value) (string, error) { return "", boom }})
	if !errors.Is(err, boom) || out != nil {
		t.Fatalf("callback error not propagated: %q %v", out, err)
	}
}

func TestStringsCallback(t *testing.T) {
	t.Parallel()
	in := `{"note":"ssn 123-45-6789","ssn":"x","n":"plain"}`
	got, n, err := Rewrite([]byte(in), Options{
		Selectors: sels(t, "ssn"), Field: tag,
		Strings: func(v Value) (string, bool, error) {
			if i := strings.Index(v.Text, "123-45-6789"); i >= 0 {
				return v.Text[:i] + "TOK", true, nil
			}
			return "", false, nil
		},
	})
	if err != nil || n != 2 {
		t.Fatal(n, err)
	}
	if want := `{"note":"ssn TOK","ssn":"T($.ssn=x)","n":"plain"}`; string(got) != want {
		t.Fatalf("got %s", got)
	}
}

func TestSelectorParse(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "$", "$.", "$[", "$[x]", "$[-1]", "$a", `$["a`} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("ParseSelector(%q) accepted", bad)
		}
	}
}

func decodeAny(t *testing.T, b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

// sameExceptSelected walks both documents: values under a key named "ssn"
// must have become marker strings, every other value must be equal.
func sameExceptSelected(t *testing.T, in, out any, selected bool) {
	switch a := in.(type) {
	case map[string]any:
		b, ok := out.(map[string]any)
		if !ok || len(a) != len(b) {
			t.Fatalf("object changed shape: %v -> %v", in, out)
		}
		for k, v := range a {
			sameExceptSelected(t, v, b[k], selected || k == "ssn")
		}
	case []any:
		b, ok := out.([]any)
		if !ok || len(a) != len(b) {
			t.Fatalf("array changed shape: %v -> %v", in, out)
		}
		for i := range a {
			sameExceptSelected(t, a[i], b[i], selected)
		}
	default:
		if selected && in != nil {
			if s, ok := out.(string); !ok || !strings.HasPrefix(s, "#01#") {
				t.Fatalf("selected value %v became %v", in, out)
			}
			return
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("untouched value changed: %#v -> %#v", in, out)
		}
	}
}

func FuzzRewriteJSON(f *testing.F) {
	for _, s := range []string{`[{"fname":"A","ssn":"123-45-6789","n":1}]`, `{"ssn":{"a":[1,true,null]}}`, `"x"`, `{"a\u0073sn":"\ud800"}`} {
		f.Add([]byte(s))
	}
	ssn, _ := ParseSelector("ssn")
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := Rewrite(in, Options{Selectors: []Selector{ssn},
			Field: func(_ int, v Value) (string, error) { return "#01#" + v.Path.Binding() + "#10#", nil }})
		valid := json.Valid(in)
		if err != nil {
			if valid && !strings.Contains(err.Error(), "too deep") {
				t.Fatalf("valid input rejected: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("invalid input accepted: %q", in)
		}
		if !json.Valid(out) {
			t.Fatalf("output not valid: %q -> %q", in, out)
		}
		sameExceptSelected(t, decodeAny(t, in), decodeAny(t, out), false)
	})
}
