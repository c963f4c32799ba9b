package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func FuzzVerify(f *testing.F) {
	l, path := openTest(f, Options{})
	appendN(f, l, "seed", 3)
	l.Close()
	valid, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	f.Add(bytes.Replace(valid, []byte("Decrypt"), []byte("Encrypt"), 1))
	f.Add([]byte("\n\n"))
	f.Add([]byte(`{"previousEventHash":"` + ZeroHash + `","eventHash":"` + ZeroHash + `"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Verify(bytes.NewReader(data))
		var be *BrokenError
		switch {
		case err == nil:
			if want := countLines(data); n != want {
				t.Fatalf("verified %d lines of %d", n, want)
			}
		case errors.As(err, &be):
			if be.Line != n+1 {
				t.Fatalf("broken at line %d after %d good lines", be.Line, n)
			}
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
	})
}

// FuzzVerifyKeyed feeds keyed logs (eventHmac, signed checkpoints) to the
// verifier with the keys: it must never panic, and whatever it accepts
// must be fully authenticated.
func FuzzVerifyKeyed(f *testing.F) {
	k := testKeys(f, 9)
	l, path := openTest(f, Options{Keys: k, CheckpointInterval: -1})
	appendN(f, l, "seed", 3)
	l.Close()
	valid, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	f.Add(bytes.Replace(valid, []byte(`"eventHmac"`), []byte(`"eventHash"`), 1))
	f.Add(bytes.Replace(valid, []byte(`"reason":"start"`), []byte(`"reason":"close"`), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		v := newVerifier(VerifyOptions{Keys: []*Keys{k}})
		err := v.file(bytes.NewReader(data), "fuzz")
		var be *BrokenError
		switch {
		case err == nil:
			if v.rep.Lines != countLines(data) {
				t.Fatalf("verified %d lines of %d", v.rep.Lines, countLines(data))
			}
			// Only lines the key authenticated, or an unkeyed prefix.
			if v.rep.MACVerified+v.rep.Unkeyed != v.rep.Lines || v.rep.MACUnchecked != 0 || v.rep.Unverified != 0 {
				t.Fatalf("accepted unauthenticated lines: %+v", v.rep)
			}
		case errors.As(err, &be):
			if be.Line != v.rep.Lines+1 {
				t.Fatalf("broken at line %d after %d good lines", be.Line, v.rep.Lines)
			}
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
	})
}

// FuzzBound checks that any parameter JSON yields an event within the line
// limit that still serialises.
func FuzzBound(f *testing.F) {
	f.Add([]byte(`{"Description":"<<<<"}`), 5000)
	f.Add([]byte(`[1,2,{"a":[null,true,"x"]}]`), 1)
	f.Fuzz(func(t *testing.T, js []byte, repeat int) {
		var v any
		if json.Unmarshal(js, &v) != nil {
			return
		}
		repeat = max(1, min(repeat, 20000))
		e := testEvent("fuzz")
		e.RequestParameters = []any{v, strings.Repeat(string(js), repeat)}
		e.ErrorMessage = strings.Repeat(string(js), repeat)
		pre := bound(e)
		line, err := marshalLine(e, pre)
		if err != nil {
			t.Fatalf("bounded event does not serialise: %v", err)
		}
		if len(line) > MaxLineBytes {
			t.Fatalf("line of %d bytes", len(line))
		}
	})
}
