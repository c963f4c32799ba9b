package auditapi

import (
	"bytes"
	"strings"
	"testing"
)

// forward is what backLines must agree with: complete lines, newest first.
func forward(data []byte) ([]string, []int64) {
	i := bytes.LastIndexByte(data, '\n')
	if i < 0 {
		return nil, nil
	}
	var lines []string
	var starts []int64
	start := 0
	for j, c := range data[:i+1] {
		if c == '\n' {
			lines = append([]string{string(data[start:j])}, lines...)
			starts = append([]int64{int64(start)}, starts...)
			start = j + 1
		}
	}
	return lines, starts
}

func checkBack(t *testing.T, data []byte) {
	wantL, wantS := forward(data)
	var gotL []string
	var gotS []int64
	if err := backLines(bytes.NewReader(data), int64(len(data)), func(l []byte, s int64) bool {
		gotL, gotS = append(gotL, string(l)), append(gotS, s)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(gotL, "|") != strings.Join(wantL, "|") || len(gotS) != len(wantS) {
		t.Fatalf("lines %q, want %q", gotL, wantL)
	}
	for i := range gotS {
		if gotS[i] != wantS[i] {
			t.Fatalf("starts %v, want %v", gotS, wantS)
		}
	}
}

func TestBackLines(t *testing.T) {
	long := strings.Repeat("x", 70<<10) // crosses a chunk
	for name, data := range map[string]string{
		"empty": "", "partial only": "abc", "one": "a\n", "partial tail": "a\nb\nc",
		"empty lines": "\n\n\n", "long line": "a\n" + long + "\nb\n", "long partial": long, "chunk edge": strings.Repeat("y", 64<<10-1) + "\nz\n",
	} {
		t.Run(name, func(t *testing.T) { checkBack(t, []byte(data)) })
	}
}

func FuzzBackLines(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\n", "abc\n\ndef\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkBack(t, data) })
}
