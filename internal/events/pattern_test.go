package events

import (
	"errors"
	"testing"
)

const acmEvent = `{
  "version": "0", "id": "9c95e8e4-96a4-ef3f-b739-b6aa5b193afb",
  "detail-type": "ACM Certificate Approaching Expiration", "source": "aws.acm",
  "account": "123456789012", "time": "2020-09-30T06:51:08Z", "region": "us-east-1",
  "resources": ["arn:aws:acm:us-east-1:123456789012:certificate/61f50cd4"],
  "detail": {"DaysToExpiry": 31, "CommonName": "Example.com", "ip": "10.0.3.7",
    "tags": ["a", "b"], "nested": {"deep": {"flag": true, "none": null}},
    "items": [{"k": "x", "n": 1}, {"k": "y", "n": 2}]}
}`

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pattern string
		want    bool
	}{
		{"source exact", `{"source":["aws.acm"]}`, true},
		{"source other", `{"source":["aws.kms"]}`, false},
		{"source one of", `{"source":["aws.kms","aws.acm"]}`, true},
		{"source and detail-type", `{"source":["aws.acm"],"detail-type":["ACM Certificate Approaching Expiration"]}`, true},
		{"detail-type mismatch", `{"source":["aws.acm"],"detail-type":["ACM Certificate Expired"]}`, false},
		{"resources any element", `{"resources":["arn:aws:acm:us-east-1:123456789012:certificate/61f50cd4"]}`, true},
		{"nested number", `{"detail":{"DaysToExpiry":[31]}}`, true},
		{"number written differently", `{"detail":{"DaysToExpiry":[31.0]}}`, true},
		{"number is not a string", `{"detail":{"DaysToExpiry":["31"]}}`, false},
		{"deep bool", `{"detail":{"nested":{"deep":{"flag":[true]}}}}`, true},
		{"deep bool false", `{"detail":{"nested":{"deep":{"flag":[false]}}}}`, false},
		{"null value", `{"detail":{"nested":{"deep":{"none":[null]}}}}`, true},
		{"array element", `{"detail":{"tags":["b"]}}`, true},
		{"array no element", `{"detail":{"tags":["c"]}}`, false},
		{"prefix", `{"source":[{"prefix":"aws."}]}`, true},
		{"prefix no", `{"source":[{"prefix":"custom."}]}`, false},
		{"prefix ignore case", `{"detail":{"CommonName":[{"prefix":{"equals-ignore-case":"EXAMPLE"}}]}}`, true},
		{"suffix", `{"detail":{"CommonName":[{"suffix":".com"}]}}`, true},
		{"suffix case-sensitive", `{"detail":{"CommonName":[{"suffix":".COM"}]}}`, false},
		{"suffix ignore case", `{"detail":{"CommonName":[{"suffix":{"equals-ignore-case":".COM"}}]}}`, true},
		{"equals-ignore-case", `{"detail":{"CommonName":[{"equals-ignore-case":"EXAMPLE.COM"}]}}`, true},
		{"anything-but value", `{"source":[{"anything-but":"aws.kms"}]}`, true},
		{"anything-but excluded", `{"source":[{"anything-but":["aws.acm","aws.kms"]}]}`, false},
		{"anything-but number", `{"detail":{"DaysToExpiry":[{"anything-but":[31]}]}}`, false},
		{"anything-but prefix", `{"source":[{"anything-but":{"prefix":"aws."}}]}`, false},
		{"anything-but suffix", `{"source":[{"anything-but":{"suffix":".kms"}}]}`, true},
		{"anything-but ignore case", `{"source":[{"anything-but":{"equals-ignore-case":["AWS.ACM"]}}]}`, false},
		{"anything-but missing field", `{"detail":{"missing":[{"anything-but":"x"}]}}`, false},
		{"numeric range", `{"detail":{"DaysToExpiry":[{"numeric":[">",0,"<=",45]}]}}`, true},
		{"numeric exclusive bound", `{"detail":{"DaysToExpiry":[{"numeric":[">",31]}]}}`, false},
		{"numeric equals", `{"detail":{"DaysToExpiry":[{"numeric":["=",31]}]}}`, true},
		{"numeric on string", `{"detail":{"CommonName":[{"numeric":[">",0]}]}}`, false},
		{"exists true", `{"detail":{"CommonName":[{"exists":true}]}}`, true},
		{"exists true missing", `{"detail":{"Nope":[{"exists":true}]}}`, false},
		{"exists false missing", `{"detail":{"Nope":[{"exists":false}]}}`, true},
		{"exists false present", `{"detail":{"CommonName":[{"exists":false}]}}`, false},
		{"exists on object is false", `{"detail":{"nested":[{"exists":true}]}}`, false},
		{"exists false under missing object", `{"other":{"x":[{"exists":false}]}}`, true},
		{"wildcard", `{"detail":{"CommonName":[{"wildcard":"Ex*.c*m"}]}}`, true},
		{"wildcard no", `{"detail":{"CommonName":[{"wildcard":"*.org"}]}}`, false},
		{"cidr", `{"detail":{"ip":[{"cidr":"10.0.0.0/16"}]}}`, true},
		{"cidr no", `{"detail":{"ip":[{"cidr":"10.1.0.0/16"}]}}`, false},
		{"array of objects same element", `{"detail":{"items":{"k":["y"],"n":[2]}}}`, true},
		{"array of objects across elements", `{"detail":{"items":{"k":["x"],"n":[2]}}}`, false},
		{"or first", `{"source":["aws.acm"],"$or":[{"detail-type":["nope"]},{"detail":{"DaysToExpiry":[31]}}]}`, true},
		{"or none", `{"$or":[{"detail-type":["nope"]},{"source":["nope"]}]}`, false},
		{"missing field", `{"nope":["x"]}`, false},
		{"object against scalar", `{"source":{"x":["y"]}}`, false},
	}
	ev, err := decodeJSON([]byte(acmEvent))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := compilePattern(tc.pattern)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			if got := p.match(ev); got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPatternInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, pattern string }{
		{"not json", `{"source":`},
		{"not object", `["aws.acm"]`},
		{"scalar leaf", `{"source":"aws.acm"}`},
		{"empty array", `{"source":[]}`},
		{"empty object", `{}`},
		{"nested empty object", `{"detail":{}}`},
		{"unknown operator", `{"source":[{"regex":"a.*"}]}`},
		{"two operators", `{"source":[{"prefix":"a","suffix":"b"}]}`},
		{"prefix not string", `{"source":[{"prefix":1}]}`},
		{"numeric odd", `{"n":[{"numeric":[">"]}]}`},
		{"numeric bad op", `{"n":[{"numeric":["!=",1]}]}`},
		{"numeric two lower", `{"n":[{"numeric":[">",1,">=",2]}]}`},
		{"numeric empty range", `{"n":[{"numeric":[">",5,"<",1]}]}`},
		{"numeric string operand", `{"n":[{"numeric":[">","1"]}]}`},
		{"exists not bool", `{"n":[{"exists":"yes"}]}`},
		{"nested array", `{"n":[["a"]]}`},
		{"anything-but empty", `{"n":[{"anything-but":[]}]}`},
		{"anything-but numeric", `{"n":[{"anything-but":{"numeric":[">",1]}}]}`},
		{"double wildcard", `{"n":[{"wildcard":"a**b"}]}`},
		{"bad cidr", `{"n":[{"cidr":"10.0.0.0/99"}]}`},
		{"or single", `{"$or":[{"a":["b"]}]}`},
		{"trailing data", `{"a":["b"]} {}`},
		{"huge number", `{"a":[1e999]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := compilePattern(tc.pattern); !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("compile = %v, want an ErrInvalidPattern error", err)
			}
		})
	}
}

func TestWildcardMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a*c", "ac", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{"abc", "abc", true},
		{"abc", "abcd", false},
	}
	for _, tc := range tests {
		t.Run(tc.p+"_"+tc.s, func(t *testing.T) {
			if got := wildcardMatch(tc.p, tc.s); got != tc.want {
				t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
			}
		})
	}
}

// FuzzPattern feeds arbitrary patterns and events: compiling must never
// panic, and a compiled pattern must match any event without panicking.
func FuzzPattern(f *testing.F) {
	f.Add(`{"source":["aws.acm"],"detail":{"n":[{"numeric":[">",1]}]}}`, acmEvent)
	f.Add(`{"$or":[{"a":[{"wildcard":"*x*"}]},{"b":[{"anything-but":{"prefix":"q"}}]}]}`, `{"a":"yxz","b":["q",1]}`)
	f.Add(`{"a":{"b":[{"exists":false}]}}`, `{"a":[{"b":null},{"c":1}]}`)
	f.Add(`{"ip":[{"cidr":"::ffff:10.0.0.0/104"}]}`, `{"ip":"10.0.0.1"}`)
	f.Fuzz(func(t *testing.T, pat, event string) {
		p, err := compilePattern(pat)
		if err != nil {
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("error %v is not an ErrInvalidPattern", err)
			}
			return
		}
		ev, err := decodeJSON([]byte(event))
		if err != nil {
			return
		}
		first := p.match(ev)
		if p.match(ev) != first {
			t.Fatal("matching is not deterministic")
		}
	})
}
