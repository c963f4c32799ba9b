package spec

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzParseLocal: the local mesh file is operator input; parsing must
// never panic, and whatever it accepts must re-encode and parse again.
func FuzzParseLocal(f *testing.F) {
	if b, err := os.ReadFile("testdata/colorteller.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"meshName":"m","virtualGateway":{"virtualGatewayName":"g","spec":{"listeners":[{"portMapping":{"port":8080,"protocol":"http"}}]}}}`))
	f.Add([]byte("a: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lf, err := ParseLocal(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(lf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseLocal(b); err != nil {
			t.Fatalf("accepted input does not round-trip: %v\n%s", err, b)
		}
	})
}
