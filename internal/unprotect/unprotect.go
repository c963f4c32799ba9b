package unprotect

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bulwarkd/bulwark/internal/fle"
)

// ParseOnError parses an --on-error value: fail, keep or redact.
func ParseOnError(s string) (fle.OnError, error) {
	switch strings.ToLower(s) {
	case "", "fail":
		return fle.Fail, nil
	case "keep":
		return fle.Keep, nil
	case "redact":
		return fle.Redact, nil
	}
	return 0, fmt.Errorf("on-error %q: use fail, keep or redact", s)
}

// Mode chooses how documents are searched.
type Mode int

const (
	// Text finds tokens anywhere and inserts plaintexts as they are.
	Text Mode = iota
	// JSON searches string values only, keeps the output valid JSON and
	// enforces HPKE path binding.
	JSON
)

// Document unprotects one document in mode m.
func Document(ctx context.Context, u *fle.Unprotector, m Mode, doc []byte) ([]byte, fle.Report, error) {
	if m == JSON {
		return u.JSON(ctx, doc)
	}
	return u.Text(ctx, doc)
}

// Input is one document to read: a file path, or "-" for Stdin.
type Input struct {
	Name  string
	Stdin io.Reader
}

// Run unprotects every input in order and writes the results to out, one
// after the other. In Fail mode (the Unprotector's OnError) nothing at all
// is written unless every input succeeds, so a failed run never leaves a
// partly decrypted file behind. maxBytes bounds each input (≤ 0: none).
// The report sums all inputs.
func Run(ctx context.Context, u *fle.Unprotector, m Mode, inputs []Input, out io.Writer, maxBytes int64) (fle.Report, error) {
	var total fle.Report
	var buf bytes.Buffer
	for _, in := range inputs {
		doc, err := read(in, maxBytes)
		if err != nil {
			return total, err
		}
		res, rep, err := Document(ctx, u, m, doc)
		total.Tokens += rep.Tokens
		total.Distinct += rep.Distinct
		total.Failed += rep.Failed
		total.Errors = append(total.Errors, rep.Errors...)
		if err != nil {
			return total, fmt.Errorf("%s: %w", in.Name, err)
		}
		buf.Write(res)
	}
	_, err := out.Write(buf.Bytes())
	return total, err
}

func read(in Input, maxBytes int64) ([]byte, error) {
	var r io.Reader = in.Stdin
	if in.Name != "-" || in.Stdin == nil {
		f, err := os.Open(in.Name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	if maxBytes <= 0 {
		return io.ReadAll(r)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.Name, err)
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("%s: larger than the %d-byte limit", in.Name, maxBytes)
	}
	return b, nil
}

// String names the mode ("text", "json").
func (m Mode) String() string {
	if m == JSON {
		return "json"
	}
	return "text"
}
