package awsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
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
	for _, b := range cborBombs() {
		if len(b.body) < 4096 {
			f.Add(b.body)
		}
	}
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

// cborBombs are bodies whose decoding would cost far more than their
// size; each must be refused before it is decoded.
func cborBombs() []struct {
	name string
	body []byte
} {
	wideLists := append([]byte{0x9a, 0x00, 0x08, 0x00, 0x00}, bytes.Repeat([]byte{0x80}, 1<<19)...) // [[],[],…] 2^19 times
	indefLists := append([]byte{0x9f}, bytes.Repeat([]byte{0x80}, 1<<19)...)
	indefLists = append(indefLists, 0xff)
	wideMap := []byte{0xba, 0x00, 0x04, 0x00, 0x00} // {"": [], …}
	for range 1 << 18 {
		wideMap = append(wideMap, 0x60, 0x80)
	}
	deep := append(bytes.Repeat([]byte{0x81}, 200), 0x80)                                               // [[[[…]]]]
	deepTags := append(bytes.Repeat([]byte{0xc1}, 200), 0x00)                                           // 1(1(1(…)))
	escapes := append([]byte{0xa1, 0x61, 'S', 0x7a, 0x00, 0x18, 0x00, 0x00}, make([]byte, 0x180000)...) // 1.5 MiB of NULs, 9 MiB as \u0000
	return []struct {
		name string
		body []byte
	}{
		{"a million empty lists in a list", wideLists},
		{"indefinite list of empty lists", indefLists},
		{"map of many empty lists", wideMap},
		{"nesting beyond the depth limit", deep},
		{"tags nested beyond the depth limit", deepTags},
		{"string that escapes to more JSON than allowed", escapes},
		{"list declaring 2^32 elements", []byte{0x9b, 0, 0, 0, 1, 0, 0, 0, 0, 0x80}},
		{"map declaring 2^63 pairs", []byte{0xbb, 0x80, 0, 0, 0, 0, 0, 0, 0}},
		{"byte string declaring 2^64-1 bytes", []byte{0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"unterminated indefinite map", []byte{0xbf, 0x61, 'a', 0x01}},
		{"trailing bytes", []byte{0xa0, 0xa0}},
		{"reserved additional information", []byte{0x1c}},
	}
}

// TestCBORToJSONRefusesBombs checks each bomb is a SerializationException
// and costs next to nothing: the limits are checked on the raw bytes.
func TestCBORToJSONRefusesBombs(t *testing.T) {
	for _, tc := range cborBombs() {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := CBORToJSON(tc.body)
			runtime.ReadMemStats(&after)
			var e *Error
			if !errors.As(err, &e) || e.Code != "SerializationException" {
				t.Fatalf("got %v, want a SerializationException", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
				t.Errorf("refusing a %d-byte body allocated %d bytes", len(tc.body), alloc)
			}
		})
	}
}

// TestCBORToJSONWithinLimits: inputs at the limits still decode.
func TestCBORToJSONWithinLimits(t *testing.T) {
	var nested cbor.Value = cbor.List{}
	for range maxCBORDepth - 1 {
		nested = cbor.List{nested}
	}
	many := make(cbor.List, maxCBORItems-3) // with the map, its key and the list
	for i := range many {
		many[i] = cbor.Uint(i)
	}
	for name, v := range map[string]cbor.Value{
		"nested to the depth limit": cbor.Map{"L": nested},
		"as many values as allowed": cbor.Map{"L": many},
		"a 1 MiB blob":              cbor.Map{"B": cbor.Slice(make([]byte, 1<<20))},
	} {
		if _, err := CBORToJSON(cbor.Encode(v)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
