package demo_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/demo"
)

// TestDemo runs the whole demo, as `bulwark demo` does, and fails if any
// of its checks fails; the narration is checked for the seed's proof lines.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := demo.Run(ctx, demo.Options{Mode: "both", Edge: true, Out: &out, AnyPorts: true})
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"ssl.handshake: 1", "ssl.no_certificate: 1", "ssl.no_certificate: 0",
		"0 failed", "restores the original byte for byte", "Every check passed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("narration lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "FAIL") {
		t.Errorf("a check failed:\n%s", out.String())
	}
}

func TestDemoRefusesUnknownMode(t *testing.T) {
	if err := demo.Run(context.Background(), demo.Options{Mode: "sideways", Out: &bytes.Buffer{}}); err == nil {
		t.Fatal("an unknown mode was accepted")
	}
}
