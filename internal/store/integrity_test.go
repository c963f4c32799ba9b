package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/bulwarkd/bulwark/internal/seal"
)

// FuzzVerifyRow: a row read from the database is untrusted input. Whatever
// its columns, it verifies only if it is exactly the row that was tagged.
func FuzzVerifyRow(f *testing.F) {
	k, err := seal.NewKeyring(bytes.Repeat([]byte{9}, seal.MasterKeySize), nil)
	if err != nil {
		f.Fatal(err)
	}
	t0 := time.Unix(1700000000, 5).UTC()
	orig := &Row{Kind: "iam/accesskey", ID: "AKIA1", Data: []byte(`{"UserName":"alice"}`), Sealed: []byte("sealed-bytes"), Version: 3, Created: t0, Updated: t0.Add(time.Second)}
	tagRow(k, orig)
	f.Add(orig.Kind, orig.ID, orig.Data, orig.Sealed, false, orig.Version, orig.Created.UnixNano(), orig.Updated.UnixNano(), orig.MAC)
	f.Add("iam/accesskeyA", "KIA1", orig.Data, orig.Sealed, false, orig.Version, orig.Created.UnixNano(), orig.Updated.UnixNano(), orig.MAC)
	f.Add(orig.Kind, orig.ID, []byte(`{"UserName":""}`), []byte(nil), true, int64(4), int64(0), int64(0), []byte(nil))
	f.Fuzz(func(t *testing.T, kind, id string, data, sealed []byte, noSecret bool, version, created, updated int64, mac []byte) {
		if noSecret {
			sealed = nil
		} else if sealed == nil {
			sealed = []byte{}
		}
		row := &Row{Kind: kind, ID: id, Data: data, Sealed: sealed, Version: version,
			Created: time.Unix(0, created).UTC(), Updated: time.Unix(0, updated).UTC(), MAC: mac}
		if verifyRow(k, row) != nil {
			return
		}
		same := kind == orig.Kind && id == orig.ID && bytes.Equal(data, orig.Data) &&
			(sealed == nil) == (orig.Sealed == nil) && bytes.Equal(sealed, orig.Sealed) &&
			version == orig.Version && created == orig.Created.UnixNano() && updated == orig.Updated.UnixNano()
		if !same {
			t.Fatalf("a row other than the tagged one verified: %+v", row)
		}
	})
}
