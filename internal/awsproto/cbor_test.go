package awsproto

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

func TestCBORToJSON(t *testing.T) {
	tests := []struct {
		name string
		in   cbor.Value
		want string
	}{
		{"blob becomes base64", cbor.Map{"B": cbor.Slice("hi")}, `{"B":"aGk="}`},
		{"timestamp tag becomes epoch seconds", cbor.Map{"T": &cbor.Tag{ID: 1, Value: cbor.Float64(1.5)}}, `{"T":1.5}`},
		{"negative and large integers", cbor.Map{"N": cbor.NegInt(5), "U": cbor.Uint(1 << 60)}, `{"N":-5,"U":1152921504606846976}`},
		{"nested lists and nulls dropped", cbor.Map{"L": cbor.List{cbor.String("a"), cbor.Bool(true)}, "Z": &cbor.Nil{}}, `{"L":["a",true]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CBORToJSON(cbor.Encode(tc.in))
			if err != nil || string(got) != tc.want {
				t.Errorf("got %s %v, want %s", got, err, tc.want)
			}
		})
	}
	if _, err := CBORToJSON(cbor.Encode(cbor.Map{"X": &cbor.Tag{ID: 99, Value: cbor.Uint(1)}})); err == nil {
		t.Error("an unknown tag was accepted")
	}
}

func TestEncodeCBOR(t *testing.T) {
	type inner struct {
		Blob []byte `json:"Blob,omitempty"`
	}
	type out struct {
		Name    string   `json:"Name"`
		Created *Time    `json:"Created,omitempty"`
		Missing *string  `json:"Missing,omitempty"`
		Count   int      `json:"Count"`
		Items   []inner  `json:"Items"`
		Tags    []string `json:"Tags,omitempty"`
	}
	b, err := EncodeCBOR(&out{Name: "n", Created: NewTime(time.UnixMilli(1500)), Count: -3, Items: []inner{{Blob: []byte{1}}}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := cbor.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(cbor.Map)
	if m["Name"] != cbor.String("n") || m["Count"] != cbor.NegInt(3) {
		t.Errorf("scalars: %#v", m)
	}
	if tag, ok := m["Created"].(*cbor.Tag); !ok || tag.ID != 1 || tag.Value != cbor.Float64(1.5) {
		t.Errorf("timestamp: %#v", m["Created"])
	}
	if _, ok := m["Missing"]; ok {
		t.Error("nil member encoded")
	}
	if _, ok := m["Tags"]; ok {
		t.Error("omitempty member encoded")
	}
	items := m["Items"].(cbor.List)
	if blob := items[0].(cbor.Map)["Blob"]; blob.(cbor.Slice)[0] != 1 {
		t.Errorf("nested blob: %#v", blob)
	}
}

// FuzzCBORToJSON: untrusted request bodies never panic, and whatever is
// accepted is valid JSON.
func FuzzCBORToJSON(f *testing.F) {
	f.Add(cbor.Encode(cbor.Map{"KeyId": cbor.String("k"), "Plaintext": cbor.Slice("x")}))
	f.Add(cbor.Encode(cbor.Map{"T": &cbor.Tag{ID: 1, Value: cbor.Uint(1)}, "L": cbor.List{cbor.Map{}}}))
	f.Add([]byte{0xbf, 0xff})
	f.Add([]byte{0x9f, 0x9f, 0x9f})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := CBORToJSON(b)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %x", out, b)
		}
	})
}
