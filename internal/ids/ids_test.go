package ids

import (
	"bytes"
	"errors"
	"regexp"
	"testing"
	"testing/iotest"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestUUID(t *testing.T) {
	for _, src := range [][]byte{bytes.Repeat([]byte{0}, 16), bytes.Repeat([]byte{0xff}, 16)} {
		got, err := UUID(bytes.NewReader(src))
		if err != nil || !uuidV4.MatchString(got) {
			t.Errorf("UUID(%x) = %q, %v: not a version-4 UUID", src, got, err)
		}
	}
	if got, _ := UUID(bytes.NewReader(bytes.Repeat([]byte{0x11}, 16))); got != "11111111-1111-4111-9111-111111111111" {
		t.Errorf("layout: %s", got)
	}
	if _, err := UUID(iotest.ErrReader(errors.New("dry"))); err == nil {
		t.Error("a failing random source was not reported")
	}
}
