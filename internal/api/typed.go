package api

import (
	"context"

	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// JSON adapts a typed operation to a Handler for JSON 1.1 services: it
// decodes the body into In (SerializationException on malformed input),
// checks members tagged `required:"true"` (ValidationException), an
// optional Validate() error method on In, records the redacted input (and,
// for operations that change something, the redacted output) for the audit
// log, and returns Out for the server to render.
func JSON[In any, Out any](fn func(ctx context.Context, c *Call, in *In) (*Out, error)) Handler {
	return func(ctx context.Context, c *Call) (any, error) {
		in := new(In)
		if err := awsproto.DecodeJSON(c.Body, in); err != nil {
			return nil, err
		}
		c.RequestParameters = audit.Redact(in)
		if err := awsproto.CheckRequired(in); err != nil {
			return nil, err
		}
		if v, ok := any(in).(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return nil, err
			}
		}
		out, err := fn(ctx, c, in)
		if err != nil {
			return nil, err
		}
		if out != nil && !c.ReadOnly {
			c.ResponseElements = audit.Redact(out)
		}
		return out, nil
	}
}
