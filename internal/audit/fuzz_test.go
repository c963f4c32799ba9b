package audit

import (
	"bytes"
	"errors"
	"os"
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
